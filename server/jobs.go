package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"jail/judge"
	"jail/sandbox"
)

// State is where a task is in its life.
type State string

const (
	Queued    State = "queued"
	Running   State = "running"
	Done      State = "done"
	Cancelled State = "cancelled"
)

// job is one task from its POST to the end of its keep time.
type job struct {
	id, client, profile string
	// dec is the request, until the job's end; tty is its task's.
	dec *decoded
	tty bool
	// limitsSource is "pod" when the container's limits hold the task.
	limitsSource string
	// token is the client's, whose slot the job holds; nil for a local
	// client.
	token   *Token
	created time.Time

	mu       sync.Mutex
	state    State
	started  time.Time
	finished time.Time
	result   *judge.Result
	failure  *apiError
	events   []event
	// kept is events once the job is kept (keepJobs); events is nil
	// then, and so is result.
	kept *packed
	// changed is closed and replaced at every new event, to wake the
	// streams that follow the job.
	changed chan struct{}
	// ended is closed with the done event: a client that waits only for
	// the result is woken once, not at every event before it.
	ended  chan struct{}
	cancel context.CancelFunc
	// cancelled says DELETE came, so the end is "cancelled" not "done".
	cancelled bool
	// compat is what a compatibility layer (Judge0) keeps of the request
	// it translated, to show the job in its own terms; set before the job
	// is queued, never changed.
	compat any
	// signals go to the one run's PROG; streamed counts the output
	// streamed as events, which stops at outputBudget.
	signals  chan syscall.Signal
	resize   chan judge.Winsize
	streamed int
	// partial holds, per stream, the start of a character whose rest is
	// in the next chunk.
	partial map[string][]byte
}

// outputBudget is how much of a task's output its event stream carries;
// the result has the excerpts, and a flood must not fill the server.
const outputBudget = 1 << 20

// output streams a chunk of PROG's output as an event, within the budget.
// A character cut at the chunk's end waits for the rest, so that text
// stays text; what is left at the end goes out with flushOutput.
func (j *job) output(stream string, b []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.streamed >= outputBudget {
		return
	}
	left := outputBudget - j.streamed
	j.streamed += len(b)
	truncated := len(b) > left
	if truncated {
		b = b[:left]
	}
	b = append(j.partial[stream], b...)
	b, j.partial[stream] = splitIncomplete(b)
	if truncated {
		b, j.partial[stream] = append(b, j.partial[stream]...), nil
	}
	if len(b) > 0 || truncated {
		j.emitOutputLocked(stream, b, truncated)
	}
}

// flushOutput sends what output still waits for the rest of a character
// that never came.
func (j *job) flushOutput() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, stream := range []string{"stdout", "stderr"} {
		if b := j.partial[stream]; len(b) > 0 {
			j.partial[stream] = nil
			j.emitOutputLocked(stream, b, false)
		}
	}
}

func (j *job) emitOutputLocked(stream string, b []byte, truncated bool) {
	e := newOutputData(b)
	e["stream"] = stream
	if truncated {
		e["truncated"] = true
	}
	j.emitLocked("output", e)
}

// splitIncomplete cuts off the start of a UTF-8 character that b ends
// in the middle of.
func splitIncomplete(b []byte) (complete, rest []byte) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i], append([]byte(nil), b[i:]...)
			}
			break
		}
	}
	return b, nil
}

// stdin is the attached stdin's write end, nil when there is none.
func (j *job) stdin() *os.File {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state == Done || j.state == Cancelled || j.dec == nil {
		return nil
	}
	return j.dec.stdinW
}

func (j *job) closeStdin() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dec != nil {
		j.dec.closeStdin()
	}
}

// setSize passes a terminal size to a task with a terminal; the newest
// wins over one not yet applied.
func (j *job) setSize(w judge.Winsize) bool {
	if !j.tty {
		return false
	}
	select {
	case <-j.resize:
	default:
	}
	select {
	case j.resize <- w:
	default:
	}
	return true
}

// signal passes a signal to a running task's PROG.
func (j *job) signal(sig syscall.Signal) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Running {
		return false
	}
	select {
	case j.signals <- sig:
	default:
	}
	return true
}

// event is one entry of a job's stream: its name and JSON data.
type event struct {
	name string
	data any
}

// json is the event's data as JSON; data that is JSON already (the done
// event's, a kept job's) is used as it is.
func (e event) json() ([]byte, error) {
	if raw, ok := e.data.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(e.data)
}

func newJob(client string, dec *decoded) *job {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	j := &job{id: hex.EncodeToString(b), client: client, profile: dec.profile, dec: dec, tty: dec.task.TTY,
		created: time.Now(), state: Queued, changed: make(chan struct{}), ended: make(chan struct{}), signals: make(chan syscall.Signal, 8),
		resize: make(chan judge.Winsize, 1), partial: map[string][]byte{}}
	j.emitLocked("queued", map[string]any{"id": j.id})
	return j
}

// end gives back what the job holds: its files and its token's slot. It
// is called once, where the job's life ends: run, cancelled in the queue,
// refused by it, or left in it by Shutdown.
func (j *job) end() {
	// Under the lock: a WebSocket may be writing to the attached stdin.
	j.mu.Lock()
	j.dec.release()
	// The request (its files, tests and task) is not shown again: a
	// finished task is kept only as its view and events.
	j.dec = nil
	j.mu.Unlock()
	if j.token != nil {
		j.token.release()
	}
}

// emitLocked appends an event; j.mu is held.
func (j *job) emitLocked(name string, data any) {
	j.events = append(j.events, event{name, data})
	close(j.changed)
	if name == "done" {
		// Nothing follows it.
		close(j.ended)
		j.changed = j.ended
		return
	}
	j.changed = make(chan struct{})
}

func (j *job) emit(name string, data any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.emitLocked(name, data)
}

// since returns the events from index i on, whether the job has ended
// (its done event is out), and a channel closed at the next event.
func (j *job) since(i int) ([]event, bool, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	events := j.eventsLocked()
	ended := len(events) > 0 && events[len(events)-1].name == "done"
	return events[i:], ended, j.changed
}

// eventsLocked are the job's events, unpacked if it is kept; j.mu is held.
func (j *job) eventsLocked() []event {
	if j.kept == nil {
		return j.events
	}
	events, err := j.kept.events()
	if err != nil {
		// What keepJobs wrote it reads; a failure is a bug, and the
		// stream ends with what there is.
		return []event{{"done", map[string]any{"id": j.id, "state": j.state}}}
	}
	return events
}

// shown is the job as GET shows it: its final view once it has ended.
func (j *job) shown() any {
	if v, _, ok := j.final(); ok {
		return v
	}
	return j.view()
}

// final is a finished job's view as its done event carries it, JSON, and
// the job's failure; ok is false while it runs.
func (j *job) final() (view json.RawMessage, failure *apiError, ok bool) {
	evs, ended, _ := j.since(0)
	if !ended {
		return nil, nil, false
	}
	b, err := evs[len(evs)-1].json()
	if err != nil {
		return nil, nil, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return b, j.failure, true
}

// wait blocks until the job ends or ctx is done.
func (j *job) wait(ctx context.Context) bool {
	select {
	case <-j.ended:
		return true
	case <-ctx.Done():
		return false
	}
}

// follow hands every event of the job to send, from the first, in
// batches as they come, until the done event has been sent; it returns
// send's error, or ctx's when it ends first.
func (j *job) follow(ctx context.Context, send func([]event) error) error {
	for i := 0; ; {
		evs, ended, changed := j.since(i)
		if err := send(evs); err != nil {
			return err
		}
		i += len(evs)
		if ended {
			// done is the last event: the batch just sent held it.
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// View is a task as GET /v1/runs/{id} shows it.
type View struct {
	ID      string `json:"id"`
	State   State  `json:"state"`
	Profile string `json:"profile"`
	// QueueTime is how long the task waited for a worker; Time how long
	// it took once it had one.
	QueueTime sandbox.Seconds `json:"queue_time"`
	Time      sandbox.Seconds `json:"time"`
	Result    *judge.Result   `json:"result,omitempty"`
	Error     *apiError       `json:"error,omitempty"`
	// LimitsSource is "pod" when the limits that held the task were the
	// container's (jail serve --limits=pod), not a cgroup of its run's.
	LimitsSource string `json:"limits_source,omitempty"`
}

func (j *job) view() View {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.viewLocked()
}

// viewLocked is view with j.mu held.
func (j *job) viewLocked() View {
	v := View{ID: j.id, State: j.state, Profile: j.profile, Result: j.result, Error: j.failure, LimitsSource: j.limitsSource}
	switch {
	case !j.started.IsZero():
		v.QueueTime = sandbox.Seconds(j.started.Sub(j.created))
		end := j.finished
		if end.IsZero() {
			end = time.Now()
		}
		v.Time = sandbox.Seconds(end.Sub(j.started))
	case j.state == Queued:
		v.QueueTime = sandbox.Seconds(time.Since(j.created))
	}
	return v
}

// errQueueFull is push's answer when the queue holds its maximum.
var errQueueFull = errors.New("the queue is full")

// scheduler is the bounded queue between the handlers and the workers. It
// keeps one FIFO per client and serves the clients in turn, so that one
// client's burst does not starve the others.
type scheduler struct {
	mu     sync.Mutex
	max    int
	queued int
	fifo   map[string][]*job
	turns  []string // clients with queued jobs, in serving order
	wake   chan struct{}
	done   chan struct{} // closed by close
	closed bool
}

func newScheduler(max int) *scheduler {
	return &scheduler{max: max, fifo: map[string][]*job{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *scheduler) push(j *job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errDraining
	}
	if s.queued >= s.max {
		return errQueueFull
	}
	if len(s.fifo[j.client]) == 0 {
		s.turns = append(s.turns, j.client)
	}
	s.fifo[j.client] = append(s.fifo[j.client], j)
	s.queued++
	s.signal()
	return nil
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop takes the next job, the next client's oldest; nil once closed and
// empty, or when ctx ends.
func (s *scheduler) pop(ctx context.Context) *job {
	for {
		s.mu.Lock()
		if len(s.turns) > 0 {
			c := s.turns[0]
			q := s.fifo[c]
			j := q[0]
			s.fifo[c] = q[1:]
			s.turns = s.turns[1:]
			if len(s.fifo[c]) > 0 {
				s.turns = append(s.turns, c)
			} else {
				delete(s.fifo, c)
			}
			s.queued--
			if s.queued > 0 {
				s.signal()
			}
			s.mu.Unlock()
			return j
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-s.wake:
		case <-s.done:
		case <-ctx.Done():
			return nil
		}
	}
}

// remove takes a queued job out; false if a worker has it already.
func (s *scheduler) remove(j *job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.fifo[j.client]
	for i, x := range q {
		if x == j {
			s.fifo[j.client] = append(q[:i:i], q[i+1:]...)
			s.queued--
			if len(s.fifo[j.client]) == 0 {
				delete(s.fifo, j.client)
				for k, c := range s.turns {
					if c == j.client {
						s.turns = append(s.turns[:k:k], s.turns[k+1:]...)
						break
					}
				}
			}
			return true
		}
	}
	return false
}

// close stops accepting; the workers finish what is queued.
func (s *scheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

func (s *scheduler) length() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}

var errDraining = errors.New("the server is shutting down")
