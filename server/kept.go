package server

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"sync"
)

// A finished task is kept for --keep (10 minutes by default), for GET and
// for streams that start late, and a busy service finishes thousands in
// that time. So a finished job keeps only its events (the last of which,
// done, is its final view) as JSON, compressed against a dictionary: the
// events of a recent job, which share most of the next jobs' keys and
// strings (the limits' mechanisms, the isolation); a job's 3 KB pack to
// about 300 bytes. The dictionary follows the workload: every
// dictionaryLife packs, the job just packed becomes the next one's. A job
// a compatibility layer shows from its Result is kept whole (job.keep).

// keptEvent is an event as kept: its data as JSON.
type keptEvent struct {
	Name string          `json:"n"`
	Data json.RawMessage `json:"d"`
}

// packed is a job's events as kept, and the dictionary they were packed
// against.
type packed struct {
	z    []byte
	dict *dictionary
}

type dictionary struct {
	b []byte
	// writers are flate writers primed with b, about 1 MB each.
	writers sync.Pool
}

const dictionaryLife = 1000

var packing struct {
	mu   sync.Mutex
	dict *dictionary
	uses int
}

// dictionaryFor is the dictionary to pack plain against, which becomes
// it when the last one has served its packs.
func dictionaryFor(plain []byte) *dictionary {
	packing.mu.Lock()
	defer packing.mu.Unlock()
	if packing.dict == nil || packing.uses >= dictionaryLife {
		packing.dict, packing.uses = &dictionary{b: plain}, 0
	}
	packing.uses++
	return packing.dict
}

// packEvents encodes and compresses events.
func packEvents(events []event) (packed, error) {
	// As json.Marshal of []keptEvent would write it, without compacting
	// each event's JSON a second time.
	plain := []byte{'['}
	for i, e := range events {
		d, err := e.json()
		if err != nil {
			return packed{}, err
		}
		name, _ := json.Marshal(e.name)
		if i > 0 {
			plain = append(plain, ',')
		}
		plain = append(append(append(append(append(plain, `{"n":`...), name...), `,"d":`...), d...), '}')
	}
	plain = append(plain, ']')
	d := dictionaryFor(plain)
	var out bytes.Buffer
	w, _ := d.writers.Get().(*flate.Writer)
	var err error
	if w == nil {
		// Level 2 at least: BestSpeed ignores a dictionary.
		if w, err = flate.NewWriterDict(&out, 2, d.b); err != nil {
			return packed{}, err
		}
	} else {
		w.Reset(&out)
	}
	defer d.writers.Put(w)
	if _, err := w.Write(plain); err != nil {
		return packed{}, err
	}
	if err := w.Close(); err != nil {
		return packed{}, err
	}
	return packed{bytes.Clone(out.Bytes()), d}, nil
}

// events is packEvents undone.
func (p packed) events() ([]event, error) {
	r := flate.NewReaderDict(bytes.NewReader(p.z), p.dict.b)
	defer r.Close()
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, err
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
