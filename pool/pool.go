// Package pool keeps warm sandboxes ready, per configuration, so that a
// task takes one instead of paying for the set-up. A sandbox serves one
// task and is destroyed after it (single-use), or serves task after task,
// renewed in between (reuse); the pool refills in the background, off the
// task's path.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"jail/sandbox"
)

// Config is one pool: Size sandboxes of one configuration, named for the
// profile they are made for.
type Config struct {
	Name string
	Size int
	// Spec is the sandbox's configuration for a slot: the host directory,
	// made by NewSlot and the sandbox's own, that is bound where the
	// task's files go. Of the Spec only what the sandbox is made of
	// counts (sandbox.Runner.Warm).
	Spec    func(slot string) (*sandbox.Spec, error)
	NewSlot func() (string, error)
	// Reuse has each sandbox serve task after task (sandbox.Runner.Warm).
	Reuse bool
}

// Sandbox is one warm sandbox and its slot. Its task puts its files in
// Slot, runs in Warm, and closes it.
type Sandbox struct {
	*sandbox.Warm
	Slot string
	pool *pool
}

// Close gives the sandbox back: a reusable one that may serve again goes
// back to its pool, empty slot and all, once renewed (in the background:
// the task's result does not wait for it); any other is destroyed and its
// slot removed.
func (s *Sandbox) Close() error {
	if s.pool == nil || !s.pool.cfg.Reuse {
		return s.destroy()
	}
	pl := s.pool
	pl.owner.returns.Go(func() {
		ok := s.Warm.Renew() && emptyDir(s.Slot) == nil
		pl.mu.Lock()
		pl.out--
		ok = ok && pl.owner.ctx.Err() == nil
		if ok {
			pl.ready = append(pl.ready, s)
			pl.stats.Reused++
		}
		pl.mu.Unlock()
		if !ok {
			_ = s.destroy()
			pl.signal()
		}
	})
	return nil
}

func (s *Sandbox) destroy() error {
	err := s.Warm.Close()
	if rerr := os.RemoveAll(s.Slot); err == nil {
		err = rerr
	}
	return err
}

// emptyDir removes what is in dir, and not dir itself.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Pools are the pools of one service.
type Pools struct {
	runner *sandbox.Runner
	log    *slog.Logger
	pools  map[string]*pool
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	// returns are the reusable sandboxes on their way back.
	returns sync.WaitGroup
}

type pool struct {
	cfg Config
	// wake tells the refiller a sandbox was taken.
	wake chan struct{}

	mu    sync.Mutex
	ready []*Sandbox
	// making counts the sandboxes being made now, out those of a reuse
	// pool that tasks hold and may give back.
	making, out int
	owner       *Pools
	stats       Stats
	// failing says the last making failed (stats.LastError says why).
	failing bool
}

// Stats are one pool's counters, for /metrics.
type Stats struct {
	Name string
	Size int
	// Ready is how many sandboxes wait now.
	Ready int
	// Hits and Misses count the tasks that found one and that did not;
	// Reused the sandboxes of a reuse pool that came back renewed.
	Hits, Misses, Reused uint64
	// Made counts the sandboxes made, MakeSeconds their total making
	// time, Failures the makings that failed, LastError the last one's.
	Made        uint64
	MakeSeconds float64
	Failures    uint64
	LastError   string
}

// New starts the pools; each fills in the background.
func New(r *sandbox.Runner, log *slog.Logger, cfgs []Config) (*Pools, error) {
	ctx, stop := context.WithCancel(context.Background())
	p := &Pools{runner: r, log: log, pools: map[string]*pool{}, ctx: ctx, stop: stop}
	for _, c := range cfgs {
		if c.Size < 1 {
			stop()
			return nil, fmt.Errorf("pool %s: size %d: give at least 1", c.Name, c.Size)
		}
		if _, dup := p.pools[c.Name]; dup {
			stop()
			return nil, fmt.Errorf("pool %s: given twice", c.Name)
		}
		p.pools[c.Name] = &pool{cfg: c, wake: make(chan struct{}, 1), owner: p, stats: Stats{Name: c.Name, Size: c.Size}}
	}
	for _, pl := range p.pools {
		for range min(pl.cfg.Size, runtime.NumCPU()) {
			p.wg.Go(func() { p.refill(pl) })
		}
	}
	return p, nil
}

// Take returns a ready sandbox of the named pool, or nil when there is
// none (no such pool, or it is empty): the task then runs cold, and the
// miss is counted.
func (p *Pools) Take(name string) *Sandbox {
	if p == nil {
		return nil
	}
	pl := p.pools[name]
	if pl == nil {
		return nil
	}
	pl.mu.Lock()
	var sb *Sandbox
	if len(pl.ready) > 0 {
		// The one ready longest: a reused sandbox makes its next
		// task's PROG once it is back (sandbox.Warm), and the longer
		// it has been back, the likelier that is done.
		sb = pl.ready[0]
		pl.ready = slices.Delete(pl.ready, 0, 1)
		pl.stats.Hits++
		if pl.cfg.Reuse {
			pl.out++
		}
	} else {
		pl.stats.Misses++
	}
	pl.mu.Unlock()
	// A reusable sandbox comes back; only one that does not is made anew.
	if !pl.cfg.Reuse {
		pl.signal()
	}
	return sb
}

// Has says whether there is a pool of that name.
func (p *Pools) Has(name string) bool { return p != nil && p.pools[name] != nil }

// Warm says whether every pool is full.
func (p *Pools) Warm() bool { return p.Short() == "" }

// Short says which pool is not full, with why when its last making
// failed; "" when every pool is full.
func (p *Pools) Short() string {
	if p == nil {
		return ""
	}
	names := make([]string, 0, len(p.pools))
	for name := range p.pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pl := p.pools[name]
		pl.mu.Lock()
		ready, failing, why := len(pl.ready), pl.failing, pl.stats.LastError
		pl.mu.Unlock()
		if ready < pl.cfg.Size {
			short := fmt.Sprintf("pool %s: %d of %d sandboxes ready", name, ready, pl.cfg.Size)
			if failing {
				short += "; the last making failed: " + why
			}
			return short
		}
	}
	return ""
}

// Stats are every pool's, by name.
func (p *Pools) Stats() []Stats {
	if p == nil {
		return nil
	}
	var out []Stats
	for _, pl := range p.pools {
		pl.mu.Lock()
		s := pl.stats
		s.Ready = len(pl.ready)
		pl.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops the refilling and destroys every waiting sandbox; the ones
// tasks took are theirs to close.
func (p *Pools) Close() {
	if p == nil {
		return
	}
	p.stop()
	p.wg.Wait()
	p.returns.Wait()
	for _, pl := range p.pools {
		pl.mu.Lock()
		ready := pl.ready
		pl.ready = nil
		pl.mu.Unlock()
		for _, sb := range ready {
			_ = sb.destroy()
		}
	}
	// The process that forked their inits goes with them.
	sandbox.EndZygote()
}

// signal wakes a refiller.
func (pl *pool) signal() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// refill keeps pl full. A pool has one refiller per CPU (at most Size),
// so that a single-use pool keeps up with as many tasks as the CPUs run;
// each makes one sandbox at a time. After a failure it waits, longer each
// time up to a minute, so that a host that cannot make sandboxes is not
// asked a thousand times a second.
func (p *Pools) refill(pl *pool) {
	backoff := time.Duration(0)
	for {
		pl.mu.Lock()
		short := len(pl.ready)+pl.making+pl.out < pl.cfg.Size
		if short {
			pl.making++
		}
		pl.mu.Unlock()
		if !short {
			select {
			case <-pl.wake:
				continue
			case <-p.ctx.Done():
				return
			}
		}
		begin := time.Now()
		sb, err := p.make(pl)
		took := time.Since(begin)
		// The sandbox stops counting as being made and counts as ready in
		// one step: in between, another refiller would see the pool short
		// and make one too many.
		pl.mu.Lock()
		pl.making--
		closing := p.ctx.Err() != nil
		if err == nil && !closing {
			pl.ready = append(pl.ready, sb)
			pl.stats.Made++
			pl.stats.MakeSeconds += took.Seconds()
		}
		pl.failing = err != nil
		if err != nil {
			pl.stats.Failures++
			pl.stats.LastError = err.Error()
		}
		pl.mu.Unlock()
		// Another refiller may be waiting for the one slot this one had.
		pl.signal()
		if err != nil {
			if closing {
				return
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), time.Minute)
			p.log.Warn("pool: making a warm sandbox failed", "pool", pl.cfg.Name, "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if closing {
			_ = sb.destroy()
			return
		}
	}
}

func (p *Pools) make(pl *pool) (*Sandbox, error) {
	c := pl.cfg
	slot, err := c.NewSlot()
	if err != nil {
		return nil, err
	}
	spec, err := c.Spec(slot)
	if err == nil {
		var w *sandbox.Warm
		if w, err = p.runner.Warm(p.ctx, spec, c.Reuse); err == nil {
			return &Sandbox{Warm: w, Slot: slot, pool: pl}, nil
		}
	}
	return nil, errors.Join(err, os.RemoveAll(slot))
}
