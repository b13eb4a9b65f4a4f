package server

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// A finished task is kept for --keep (10 minutes by default), for GET and
// for streams that start late, and a busy service finishes thousands in
// that time. So a finished job keeps only its events (the last of which,
// done, is its final view) as JSON, compressed against a dictionary: the
// events of a recent job, which share most of the next jobs' keys and
// strings (the limits' mechanisms, the isolation). The dictionary follows
// the workload: every dictionaryLife jobs, the first of a batch becomes
// the next ones'. A job a compatibility layer shows from its Result is
// kept whole (keepJobs).
//
// Jobs are packed in batches, packDelay after the first of them ended,
// off the workers: the POST that waited for a job and the streams that
// follow it read its events as they are. A batch is one flate stream, so
// the writer's reset (its 512 KB hash table, most of what packing one job
// cost) is paid once per batch, and a job compresses against the ones
// before it too. Reading a kept job back inflates its batch up to its
// end, at most maxBatch jobs: GET of a finished task is rare beside the
// tasks a service finishes.

// packDelay is how long a finished job stays unpacked. Packed at once, a
// pooled /bin/true task's POST waited for the packing under the job's
// lock and then unpacked it again, about 0.3 ms of its 3.
const packDelay = 100 * time.Millisecond

const (
	maxBatch       = 64
	dictionaryLife = 1000
)

// keptEvent is an event as kept: its data as JSON.
type keptEvent struct {
	Name string          `json:"n"`
	Data json.RawMessage `json:"d"`
}

// packed is a job's events as kept: the i-th job of a batch.
type packed struct {
	b *batch
	i int
}

// batch is the events of up to maxBatch jobs, each job's a JSON array,
// one after the other in one flate stream; ends[i] is where the i-th
// ends in the inflated stream.
type batch struct {
	z, dict []byte
	ends    []int
}

// packing is the dictionary batches are packed against now, and the
// flate writer primed with it (about 1 MB, kept rather than pooled: a
// sync.Pool is emptied by the collections between two batches, and a
// new writer cost more than the packing).
var packing struct {
	mu   sync.Mutex
	dict []byte
	w    *flate.Writer
	uses int
}

// keeper packs finished jobs in batches.
type keeper struct {
	mu      sync.Mutex
	pending []*job
}

// add has j packed packDelay from now, with the jobs that end meanwhile.
func (k *keeper) add(j *job) {
	k.mu.Lock()
	k.pending = append(k.pending, j)
	first := len(k.pending) == 1
	k.mu.Unlock()
	if first {
		time.AfterFunc(packDelay, k.packPending)
	}
}

func (k *keeper) packPending() {
	k.mu.Lock()
	jobs := k.pending
	k.pending = nil
	k.mu.Unlock()
	for len(jobs) > 0 {
		n := min(len(jobs), maxBatch)
		keepJobs(jobs[:n])
		jobs = jobs[n:]
	}
}

// keepJobs packs the events of jobs, finished, into one batch and lets
// go of the rest of each, but for those a compatibility layer shows from
// their Result.
func keepJobs(jobs []*job) {
	var plains [][]byte
	var kept []*job
	for _, j := range jobs {
		j.mu.Lock()
		if j.compat == nil && j.kept == nil {
			if plain, err := plainEvents(j.events); err == nil {
				plains, kept = append(plains, plain), append(kept, j)
			}
		}
		j.mu.Unlock()
	}
	if len(kept) == 0 {
		return
	}
	b, err := packBatch(plains)
	if err != nil {
		return
	}
	for i, j := range kept {
		j.mu.Lock()
		j.kept, j.events, j.result, j.partial = &packed{b, i}, nil, nil, nil
		// Sends to these are selects with a default, which a nil channel
		// takes; no one cancels a finished job.
		j.signals, j.resize, j.cancel = nil, nil, nil
		j.mu.Unlock()
	}
}

// plainEvents encodes events as json.Marshal of []keptEvent would,
// without compacting each event's JSON a second time.
func plainEvents(events []event) ([]byte, error) {
	plain := []byte{'['}
	for i, e := range events {
		d, err := e.json()
		if err != nil {
			return nil, err
		}
		name, _ := json.Marshal(e.name)
		if i > 0 {
			plain = append(plain, ',')
		}
		plain = append(append(append(append(append(plain, `{"n":`...), name...), `,"d":`...), d...), '}')
	}
	return append(plain, ']'), nil
}

// packBatch compresses plains, one after the other, into one stream
// against the current dictionary; the first of a batch becomes the
// dictionary when the last one has served its jobs.
func packBatch(plains [][]byte) (*batch, error) {
	packing.mu.Lock()
	defer packing.mu.Unlock()
	var out bytes.Buffer
	if packing.dict == nil || packing.uses >= dictionaryLife {
		// Level 2 at least: BestSpeed ignores a dictionary.
		w, err := flate.NewWriterDict(&out, 2, plains[0])
		if err != nil {
			return nil, err
		}
		packing.dict, packing.w, packing.uses = plains[0], w, 0
	} else {
		packing.w.Reset(&out)
	}
	packing.uses += len(plains)
	b := &batch{ends: make([]int, len(plains)), dict: packing.dict}
	end := 0
	for i, plain := range plains {
		if _, err := packing.w.Write(plain); err != nil {
			return nil, err
		}
		end += len(plain)
		b.ends[i] = end
	}
	if err := packing.w.Close(); err != nil {
		return nil, err
	}
	b.z = bytes.Clone(out.Bytes())
	return b, nil
}

// events is the job's events as they were packed.
func (p packed) events() ([]event, error) {
	r := flate.NewReaderDict(bytes.NewReader(p.b.z), p.b.dict)
	defer r.Close()
	plain := make([]byte, p.b.ends[p.i])
	if _, err := io.ReadFull(r, plain); err != nil {
		return nil, fmt.Errorf("unpacking a kept job: %w", err)
	}
	if p.i > 0 {
		plain = plain[p.b.ends[p.i-1]:]
	}
	var kept []keptEvent
	if err := json.Unmarshal(plain, &kept); err != nil {
		return nil, err
	}
	events := make([]event, len(kept))
	for i, k := range kept {
		events[i] = event{k.Name, k.Data}
	}
	return events, nil
}
