package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStopTimeout is how long a PROG that was sent a stop signal may
// take to exit before its sandbox is killed, as docker run's default.
const DefaultStopTimeout = 10 * time.Second

// forwarded are the signals jail passes on to PROG while it runs, as
// docker run does; the first four ask it to stop.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func stops(sig os.Signal) bool { return sig != syscall.SIGUSR1 && sig != syscall.SIGUSR2 }

// signalRouter takes jail's signals. While a PROG runs they are PROG's: a
// stop signal is passed on, and the sandbox is killed only when PROG has
// not exited within the stop timeout, or at a second stop signal. At any
// other time (a compile step, an image being held) a stop signal cancels
// what jail is doing.
type signalRouter struct {
	cancel  context.CancelCauseFunc
	timeout time.Duration

	mu    sync.Mutex
	prog  chan syscall.Signal
	first os.Signal
	timer *time.Timer
}

// routeSignals starts the router for the rest of jail's life; ctx is
// cancelled, with the reason as its cause, when jail must give up.
func routeSignals(ctx context.Context, timeout time.Duration) (context.Context, *signalRouter, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &signalRouter{cancel: cancel, timeout: timeout}
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, forwarded...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				r.handle(sig)
			case <-done:
				return
			}
		}
	}()
	return ctx, r, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// running gives PROG's signals to the run that reads the returned
// channel, until done.
func (r *signalRouter) running() (<-chan syscall.Signal, func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prog = make(chan syscall.Signal, 8)
	return r.prog, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.prog = nil
		if r.timer != nil {
			r.timer.Stop()
		}
	}
}

func (r *signalRouter) handle(sig os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prog == nil {
		if stops(sig) {
			r.cancel(fmt.Errorf("by %s", signalName(sig)))
		}
		return
	}
	select {
	case r.prog <- sig.(syscall.Signal):
	default: // a burst the run has not taken yet: the first ones count
	}
	switch {
	case !stops(sig):
	case r.first == nil:
		r.first = sig
		r.timer = time.AfterFunc(r.timeout, func() {
			r.cancel(fmt.Errorf("PROG did not exit within %v of %s (--stop-timeout)", r.timeout, signalName(sig)))
		})
	default:
		r.cancel(fmt.Errorf("a second signal, %s, after %s", signalName(sig), signalName(r.first)))
	}
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if n := unix.SignalName(s); n != "" {
			return n
		}
	}
	return sig.String()
}
