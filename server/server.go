// Package server is `jail serve`: judge tasks over HTTP. Every task goes
// through the judge package, the same core `jail judge` uses, on a bounded
// queue served by a fixed number of workers.
//
// The life of a request: POST /v1/runs → TaskRequest.decode (every field
// checked, files written to a task directory) → the policy (limits within
// the maxima, the network only where allowed) → the scheduler (429 when
// full) → a worker runs judge.Judge, streaming its events → the result,
// kept for Config.Keep.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"jail/field"
	"jail/judge"
	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

// Config is a server's settings; the zero value of each field is its
// default.
type Config struct {
	// Parallel is how many tasks run at once (default: the CPUs); Queue
	// how many may wait (default 64 per worker).
	Parallel, Queue int
	// Keep is how long a finished task's result is kept (default 10m);
	// MaxWait the longest ?wait= a request may ask (default 60s).
	Keep, MaxWait time.Duration
	// MaxBody caps a request's body (default 16 MiB); MaxFiles the files
	// and tests of one task (default 1000).
	MaxBody  int64
	MaxFiles int
	// Max caps each run's limits, over every profile's own maxima (its
	// limits); StepsMax is the maxima of raw-steps tasks, which have no
	// profile (default DefaultStepsMax).
	Max, StepsMax limits.Spec
	// AllowNetwork lets tasks ask for the host's network.
	AllowNetwork bool
	// Exec runs a task (default: judge.Judge with Runner).
	Exec   func(context.Context, judge.Task) (*judge.Result, error)
	Runner *sandbox.Runner
	Logger *slog.Logger
	// Version is jail's, for /v1/info.
	Version string
}

// DefaultStepsMax bounds a raw-steps task: it has no profile to say what
// its limits may be.
var DefaultStepsMax = limits.Spec{CPUTime: 30 * time.Second, Wall: 60 * time.Second, Memory: 1 << 30, Pids: 256,
	Output: 64 << 20, FileSize: 64 << 20}

// Server serves the API. Close it with Shutdown.
type Server struct {
	cfg     Config
	sched   *scheduler
	metrics *metrics
	log     *slog.Logger

	mu   sync.Mutex
	jobs map[string]*job
	// versions caches each profile's toolchain version.
	versions sync.Map

	// base is every task's parent context; stop cancels the running ones
	// when draining runs out of time.
	base    context.Context
	stop    context.CancelFunc
	workers sync.WaitGroup
	// draining is set by Shutdown: /readyz fails and new tasks get 503.
	draining chan struct{}
	gcDone   chan struct{}
	shutdown sync.Once
	gcStop   sync.Once
}

// New starts a server's workers.
func New(cfg Config) *Server {
	if cfg.Parallel <= 0 {
		cfg.Parallel = runtime.NumCPU()
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64 * cfg.Parallel
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 10 * time.Minute
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 60 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 1000
	}
	if cfg.StepsMax == (limits.Spec{}) {
		cfg.StepsMax = DefaultStepsMax
	}
	if cfg.Runner == nil {
		cfg.Runner = sandbox.NewRunner()
	}
	if cfg.Exec == nil {
		r := cfg.Runner
		cfg.Exec = func(ctx context.Context, t judge.Task) (*judge.Result, error) { return judge.Judge(ctx, r, t) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	s := &Server{cfg: cfg, sched: newScheduler(cfg.Queue), log: cfg.Logger, jobs: map[string]*job{},
		draining: make(chan struct{}), gcDone: make(chan struct{})}
	s.base, s.stop = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	for range cfg.Parallel {
		s.workers.Add(1)
		go s.work()
	}
	go s.collectGarbage()
	return s
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/runs", s.postRun)
	mux.HandleFunc("GET /v1/runs/{id}", s.getRun)
	mux.HandleFunc("DELETE /v1/runs/{id}", s.deleteRun)
	mux.HandleFunc("GET /v1/runs/{id}/events", s.events)
	mux.HandleFunc("GET /v1/profiles", s.profiles)
	mux.HandleFunc("GET /v1/info", s.info)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "", fmt.Sprintf("no such endpoint: %s %s (the API is under /v1)", r.Method, r.URL.Path)))
	})
	return s.guard(mux)
}

// guard serves only clients the policy admits: without tokens, loopback
// and unix-socket clients.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLocal(r.RemoteAddr) {
			writeError(w, errorf(http.StatusForbidden, codeForbidden, "", "this server serves only loopback and unix-socket clients"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLocal reports whether a remote address is a loopback or unix-socket
// peer (whose RemoteAddr net/http leaves empty or "@").
func isLocal(addr string) bool {
	if addr == "" || addr == "@" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) postRun(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.draining:
		writeError(w, errorf(http.StatusServiceUnavailable, codeDraining, "", "the server is shutting down; retry on another"))
		return
	default:
	}
	wait, aerr := s.waitParam(r)
	if aerr != nil {
		s.reject(w, aerr)
		return
	}
	var req TaskRequest
	if aerr := s.decodeBody(w, r, &req); aerr != nil {
		s.reject(w, aerr)
		return
	}
	dec, err := req.decode(noBlobs{}, Caps{Files: s.cfg.MaxFiles, Bytes: s.cfg.MaxBody})
	if err != nil {
		s.reject(w, s.requestError(err))
		return
	}
	if aerr := s.police(dec); aerr != nil {
		dec.release()
		s.reject(w, aerr)
		return
	}
	j := newJob("local", dec)
	s.mu.Lock()
	s.jobs[j.id] = j
	s.mu.Unlock()
	if err := s.sched.push(j); err != nil {
		s.forget(j)
		dec.release()
		if errors.Is(err, errDraining) {
			s.reject(w, errorf(http.StatusServiceUnavailable, codeDraining, "", "the server is shutting down; retry on another"))
			return
		}
		e := errorf(http.StatusTooManyRequests, codeQueueFull, "", fmt.Sprintf("%d tasks are queued, the most this server takes; retry later", s.cfg.Queue))
		e.retryAfter = time.Second
		s.reject(w, e)
		return
	}
	s.metrics.queued.Inc()
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if j.wait(ctx) {
			v := j.view()
			if v.Error != nil {
				writeError(w, v.Error)
				return
			}
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": j.id})
}

func (s *Server) reject(w http.ResponseWriter, e *apiError) {
	s.metrics.rejected.WithLabelValues(e.Code).Inc()
	writeError(w, e)
}

// waitParam reads ?wait=DURATION ("5s", or seconds).
func (s *Server) waitParam(r *http.Request) (time.Duration, *apiError) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := limits.ParseDuration(v)
	if err != nil || d < 0 || d > s.cfg.MaxWait {
		return 0, errorf(http.StatusBadRequest, codeInvalid, "wait", fmt.Sprintf("%q: give a duration from 0 to %v, e.g. wait=10s", v, s.cfg.MaxWait))
	}
	return d, nil
}

// decodeBody reads one JSON object, refusing unknown fields, trailing
// data and a body over the cap.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		if _, rerr := io.Copy(io.Discard, body); rerr != nil {
			err = rerr
		}
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "", fmt.Sprintf("the body is over %d bytes: upload large inputs as blobs", s.cfg.MaxBody))
	case errors.As(err, &typeErr):
		return errorf(http.StatusBadRequest, codeBadJSON, typeErr.Field, fmt.Sprintf("%s: expected %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(http.StatusBadRequest, codeInvalid, name, fmt.Sprintf("unknown field %q", name))
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, codeBadJSON, "", "the body is empty: send a JSON task")
	}
	return errorf(http.StatusBadRequest, codeBadJSON, "", "the body is not a JSON task: "+err.Error())
}

// requestError is a decode error as the API says it: 422 for a field the
// judge could not take.
func (s *Server) requestError(err error) *apiError {
	var fe *field.Error
	if errors.As(err, &fe) {
		return fieldErrors(http.StatusUnprocessableEntity, codeInvalid, err)
	}
	return errorf(http.StatusUnprocessableEntity, codeInvalid, "", err.Error())
}

// police holds a task to the maxima and the network policy.
func (s *Server) police(d *decoded) *apiError {
	if d.network == sandbox.NetHost && !s.cfg.AllowNetwork {
		return errorf(http.StatusForbidden, codeForbidden, "network", "this server does not give tasks the host's network")
	}
	run, compile := s.maxima(d.task.Program.Profile)
	if e := overMax("limits", d.limits, run); e != nil {
		return e
	}
	if e := overMax("compile_limits", d.compile, compile); e != nil {
		return e
	}
	for i, st := range d.task.Program.Steps {
		max := run
		if i < len(d.task.Program.Steps)-1 {
			max = compile
		}
		if e := overMax(fmt.Sprintf("steps[%d].limits", i), st.Limits, max); e != nil {
			return e
		}
	}
	if d.task.Program.Profile == nil {
		// A raw-steps task gets the maxima where it sets nothing: under
		// each step's own limits, which the task's limits (the judge's
		// overrides) still replace.
		for i := range d.task.Program.Steps {
			st := &d.task.Program.Steps[i]
			st.Limits = s.cfg.StepsMax.Merge(st.Limits)
		}
	}
	return nil
}

// maxima are the most a task of profile p may ask for, its runs' and its
// compile steps': the server's own where set, else the profile's.
func (s *Server) maxima(p *profiles.Profile) (run, compile limits.Spec) {
	if p == nil {
		return s.cfg.StepsMax.Merge(s.cfg.Max), s.cfg.StepsMax.Merge(s.cfg.Max)
	}
	run = p.Limits.Spec
	if p.Run != nil {
		run = p.Run.Limits.Spec
	}
	compile = run
	if p.Compile != nil {
		compile = p.Compile.Limits.Spec
	}
	return run.Merge(s.cfg.Max), compile.Merge(s.cfg.Max)
}

// overMax refuses a limit above its maximum, naming the field and the
// maximum; a limit with no maximum is free.
func overMax(prefix string, got, max limits.Spec) *apiError {
	for _, f := range limits.Fields {
		if !f.IsSet(got) || !f.IsSet(max) {
			continue
		}
		over := false
		switch v := f.Value(got).(type) {
		case int64:
			over = v > f.Value(max).(int64)
		case time.Duration:
			over = v > f.Value(max).(time.Duration)
		case float64:
			over = v > f.Value(max).(float64)
		}
		if over {
			return errorf(http.StatusUnprocessableEntity, codeOverLimit, prefix+"."+f.Name,
				fmt.Sprintf("%s.%s: %s is over this server's maximum, %s", prefix, f.Name, f.Format(got), f.Format(max)))
		}
	}
	return nil
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) *job {
	s.mu.Lock()
	j := s.jobs[r.PathValue("id")]
	s.mu.Unlock()
	if j == nil {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "id", fmt.Sprintf("no task %q: it never was, or its result was dropped after %v", r.PathValue("id"), s.cfg.Keep)))
	}
	return j
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	if j := s.job(w, r); j != nil {
		writeJSON(w, http.StatusOK, j.view())
	}
}

// deleteRun cancels a queued or running task; a finished one is
// forgotten.
func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	if s.sched.remove(j) {
		j.dec.release()
		j.mu.Lock()
		j.cancelled, j.state, j.finished = true, Cancelled, time.Now()
		v := j.viewLocked()
		j.mu.Unlock()
		s.metrics.queued.Dec()
		s.record(j, v)
		j.emit("done", v)
	} else {
		j.mu.Lock()
		switch j.state {
		case Done, Cancelled:
			j.mu.Unlock()
			s.forget(j)
			writeJSON(w, http.StatusOK, j.view())
			return
		}
		j.cancelled = true
		if j.cancel != nil {
			j.cancel()
		}
		j.mu.Unlock()
	}
	writeJSON(w, http.StatusAccepted, j.view())
}

func (s *Server) forget(j *job) {
	s.mu.Lock()
	delete(s.jobs, j.id)
	s.mu.Unlock()
}

// work runs queued tasks until the queue is closed and empty.
func (s *Server) work() {
	defer s.workers.Done()
	for {
		j := s.sched.pop(s.base)
		if j == nil {
			return
		}
		s.metrics.queued.Dec()
		s.runJob(j)
	}
}

func (s *Server) runJob(j *job) {
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	j.mu.Lock()
	if j.cancelled || ctx.Err() != nil {
		// DELETE came after the pop, or the drain ran out with the task
		// still queued: it never runs, and its end is told like any.
		j.cancelled, j.state, j.finished = true, Cancelled, time.Now()
		v := j.viewLocked()
		j.mu.Unlock()
		j.dec.release()
		s.record(j, v)
		j.emit("done", v)
		return
	}
	j.state, j.started, j.cancel = Running, time.Now(), cancel
	j.emitLocked("started", map[string]any{"id": j.id})
	j.mu.Unlock()
	s.metrics.running.Inc()
	s.metrics.queueWait.Observe(time.Duration(j.view().QueueTime).Seconds())

	task := j.dec.task
	task.Events = func(e judge.Event) {
		switch e.Kind {
		case judge.EventCompile:
			j.emit("started", map[string]any{"step": e.Step})
		case judge.EventTest:
			j.emit("started", map[string]any{"step": "run", "test": e.Test})
		case judge.EventResult:
			j.emit("test", e.Result)
		}
	}
	res, err := s.cfg.Exec(ctx, task)
	s.metrics.running.Dec()
	// Nothing of the task is left once its end is told.
	j.dec.release()

	j.mu.Lock()
	j.finished, j.result = time.Now(), res
	if err != nil {
		j.failure = s.requestError(err)
		j.result = nil
	}
	j.state = Done
	// Cancelled by DELETE, or by the end of the drain: what the run did
	// is its result, but it was not let finish.
	if j.cancelled || ctx.Err() != nil {
		j.state = Cancelled
	}
	v := j.viewLocked()
	j.mu.Unlock()
	// Counted before it is told, so whoever hears of the end sees it
	// counted.
	s.record(j, v)
	j.emit("done", v)
}

// record counts a finished task and logs its one line.
func (s *Server) record(j *job, v View) {
	verdictName := "error"
	if v.State == Cancelled {
		verdictName = "cancelled"
	}
	attrs := []any{"id", j.id, "client", j.client, "profile", j.profile, "state", v.State,
		"queue_time", time.Duration(v.QueueTime).Seconds(), "time", time.Duration(v.Time).Seconds()}
	if v.Result != nil {
		verdictName = v.Result.Verdict.String()
		attrs = append(attrs, "verdict", verdictName, "passed", v.Result.Passed, "total", v.Result.Total)
	}
	if v.Error != nil {
		attrs = append(attrs, "error", v.Error.Message)
	}
	s.metrics.tasks.WithLabelValues(j.profile, verdictName).Inc()
	s.metrics.duration.WithLabelValues(j.profile).Observe(time.Duration(v.Time).Seconds())
	s.log.Info("task", attrs...)
}

// events streams a task's events as Server-Sent Events, from the first,
// always ending with "done".
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errorf(http.StatusInternalServerError, codeInternal, "", "streaming is not supported on this connection"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for i := 0; ; {
		evs, ended, changed := j.since(i)
		for _, e := range evs {
			b, err := json.Marshal(e.data)
			if err != nil {
				return
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, b)
		}
		i += len(evs)
		flusher.Flush()
		if ended && len(evs) == 0 {
			return
		}
		if ended {
			continue
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.draining:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// collectGarbage drops finished tasks after Keep.
func (s *Server) collectGarbage() {
	t := time.NewTicker(min(s.cfg.Keep/4+time.Millisecond, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.gcDone:
			return
		}
		now := time.Now()
		s.mu.Lock()
		for id, j := range s.jobs {
			j.mu.Lock()
			old := !j.finished.IsZero() && now.Sub(j.finished) > s.cfg.Keep
			j.mu.Unlock()
			if old {
				delete(s.jobs, id)
			}
		}
		s.mu.Unlock()
	}
}

// Shutdown stops taking tasks, lets the queued and running ones finish
// until ctx ends, then cancels the rest and waits for them.
func (s *Server) Shutdown(ctx context.Context) {
	s.shutdown.Do(func() { close(s.draining) })
	s.sched.close()
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.stop()
		<-done
	}
	s.stop()
	s.gcStop.Do(func() { close(s.gcDone) })
	// What is still queued was never run: its directories go too.
	for {
		j := s.sched.pop(context.Background())
		if j == nil {
			break
		}
		j.dec.release()
	}
}

// noBlobs resolves no blob.
type noBlobs struct{}

func (noBlobs) Path(string) (string, bool) { return "", false }

// release removes a decoded task's files.
func (d *decoded) release() {
	if d.task.Stdin != nil {
		d.task.Stdin.Close()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

func (s *Server) profiles(w http.ResponseWriter, _ *http.Request) {
	var out []map[string]any
	for _, name := range profiles.BuiltinNames() {
		p, err := profiles.Builtin(name)
		if err != nil || p.Run == nil {
			continue
		}
		run, compile := s.maxima(p)
		entry := map[string]any{
			"name": name, "description": p.Description, "compile": p.Compile != nil,
			"source_name": p.SourceName, "version": s.toolchainVersion(p),
			"limits": limitsJSON(p.Run.Limits.Spec), "max_limits": limitsJSON(run),
		}
		if p.Compile != nil {
			entry["compile_limits"] = limitsJSON(p.Compile.Limits.Spec)
			entry["max_compile_limits"] = limitsJSON(compile)
		}
		out = append(out, entry)
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": out})
}

// limitsJSON spells the limits set, in `jail run`'s units.
func limitsJSON(l limits.Spec) map[string]string {
	out := map[string]string{}
	for _, f := range limits.Fields {
		if f.IsSet(l) {
			out[f.Name] = f.Format(l)
		}
	}
	return out
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	backend, controllers, notes := s.cfg.Runner.Backend(r.Context())
	landlock, missing := sandbox.LandlockSupport()
	major, minor, release := sandbox.KernelVersion()
	writeJSON(w, http.StatusOK, map[string]any{
		"version": s.cfg.Version, "go": runtime.Version(),
		"kernel":   map[string]any{"release": release, "version": strconv.Itoa(major) + "." + strconv.Itoa(minor)},
		"features": []string{"judge", "checkers", "interactors", "events"},
		"limits":   map[string]any{"backend": backend, "controllers": controllers, "notes": notes},
		"landlock": map[string]string{"in_force": landlock, "missing": missing},
		"parallel": s.cfg.Parallel, "queue": s.cfg.Queue, "queued": s.sched.length(),
		"verdicts": verdictNames(),
	})
}

func verdictNames() []string {
	var out []string
	for v := verdict.OK; v <= verdict.XX; v++ {
		out = append(out, v.String())
	}
	return out
}
