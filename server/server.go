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
	"jail/pool"
	"jail/profiles"
	"jail/sandbox"
	"jail/server/web"
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
	// AllowNetwork lets local clients ask for the host's network; with
	// Tokens, each token says.
	AllowNetwork bool
	// Tokens, when set, serves any client with a token, each within its
	// own limits; nil serves only loopback and unix-socket clients.
	Tokens *Tokens
	// BlobDir holds the uploaded blobs (default: a directory under
	// os.TempDir() that New makes and Shutdown removes). MaxBlob caps one
	// blob (default 256 MiB), BlobTotal all of them (default 1 GiB); a
	// blob is dropped BlobTTL after its last use (default 1h).
	BlobDir   string
	MaxBlob   int64
	BlobTotal int64
	BlobTTL   time.Duration
	// Exec runs a task (default: judge.Judge with Runner).
	Exec   func(context.Context, judge.Task) (*judge.Result, error)
	Runner *sandbox.Runner
	Logger *slog.Logger
	// Version is jail's, for /v1/info.
	Version string
	// Pools keep warm sandboxes ready for tasks of a profile ("default"
	// for raw steps); /readyz waits until they are full.
	Pools []PoolSize
	// Images holds the image a task names (nil: tasks name none).
	Images ImageHolder
	// Limits says how tasks' limits are held. "" as this host can (what
	// it cannot is in each result's warnings). "cgroup": by a cgroup per
	// run, or no task runs: with LimitsProblem (why not) the server is
	// not ready and refuses tasks. "pod": by the limits of the container
	// the server runs in (a Kubernetes pod's), one task at a time, each
	// task's view saying limits_source "pod".
	Limits        string
	LimitsProblem string
}

// PoolSize is one pool: Size warm sandboxes for tasks of Profile, each
// serving one task or, with Reuse, task after task.
type PoolSize struct {
	Profile string
	Size    int
	Reuse   bool
}

// DefaultStepsMax bounds a raw-steps task: it has no profile to say what
// its limits may be.
var DefaultStepsMax = limits.Spec{CPUTime: 30 * time.Second, Wall: 60 * time.Second, Memory: 1 << 30, Pids: 256,
	Output: 64 << 20, FileSize: 64 << 20}

// Server serves the API. Close it with Shutdown.
type Server struct {
	cfg     Config
	pools   *pool.Pools
	sched   *scheduler
	blobs   *blobStore
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
	// unready, set by Unready, fails /readyz alone.
	draining    chan struct{}
	unready     chan struct{}
	gcDone      chan struct{}
	keeper      keeper
	shutdown    sync.Once
	unreadyOnce sync.Once
	gcStop      sync.Once
}

// New starts a server's workers.
func New(cfg Config) (*Server, error) {
	switch cfg.Limits {
	case "", "cgroup":
	case "pod":
		// The pod's limits are the whole server's: one task inside them
		// at a time is the only run they bound.
		cfg.Parallel = 1
	default:
		return nil, fmt.Errorf("limits %q: give cgroup or pod, or nothing for what this host can", cfg.Limits)
	}
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
	if cfg.MaxBlob <= 0 {
		cfg.MaxBlob = 256 << 20
	}
	if cfg.BlobTotal <= 0 {
		cfg.BlobTotal = 1 << 30
	}
	if cfg.BlobTTL <= 0 {
		cfg.BlobTTL = time.Hour
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
	pools, err := startPools(cfg)
	if err != nil {
		return nil, err
	}
	blobs, err := newBlobStore(cfg.BlobDir, cfg.MaxBlob, cfg.BlobTotal, cfg.BlobTTL)
	if err != nil {
		pools.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, pools: pools, sched: newScheduler(cfg.Queue), blobs: blobs, log: cfg.Logger, jobs: map[string]*job{},
		draining: make(chan struct{}), unready: make(chan struct{}), gcDone: make(chan struct{})}
	s.base, s.stop = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	for range cfg.Parallel {
		s.workers.Add(1)
		go s.work()
	}
	go s.collectGarbage()
	return s, nil
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/runs", s.postRun)
	mux.HandleFunc("GET /v1/runs/{id}", s.getRun)
	mux.HandleFunc("DELETE /v1/runs/{id}", s.deleteRun)
	mux.HandleFunc("GET /v1/runs/{id}/events", s.events)
	mux.HandleFunc("GET /v1/runs/{id}/ws", s.ws)
	mux.HandleFunc("PUT /v1/blobs/{digest}", s.putBlob)
	// GET serves HEAD too: http.ServeContent sends the length alone.
	mux.HandleFunc("GET /v1/blobs/{digest}", s.getBlob)
	mux.HandleFunc("GET /v1/profiles", s.profiles)
	mux.HandleFunc("GET /v1/info", s.info)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	s.compatRoutes(mux)
	// The playground page at / and /assets/; everything else is no
	// endpoint.
	mux.Handle("/", web.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "", fmt.Sprintf("no such endpoint: %s %s (the API is under /v1)", r.Method, r.URL.Path)))
	})))
	return s.guard(mux)
}

// guard serves only clients the policy admits: without tokens, loopback
// and unix-socket clients; with tokens, a client with one, within its
// rate. The probes stay open, since load balancers carry no token, and so
// does /metrics to a local scraper; a remote one needs a token, because
// the series name every client.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Tokens == nil {
			if !isLocal(r.RemoteAddr) {
				writeError(w, errorf(http.StatusForbidden, codeForbidden, "", "this server serves only loopback and unix-socket clients: start it with --tokens to serve others"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		case r.URL.Path == "/metrics" && isLocal(r.RemoteAddr):
		default:
			t, ok := s.authorize(w, r)
			if !ok {
				return
			}
			if ok, wait := t.allow(time.Now()); !ok {
				e := errorf(http.StatusTooManyRequests, codeRateLimited, "", fmt.Sprintf("token %q is over its rate of %s requests: retry after %v", t.Name, t.rate, wait.Round(time.Millisecond)))
				e.retryAfter = wait
				s.reject(w, e)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, t))
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
	if p := s.limitsProblem(); p != "" {
		writeError(w, errorf(http.StatusServiceUnavailable, codeLimits, "", p))
		return
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
	dec, err := req.decode(s.blobs, s.cfg.Images, s.caps())
	if err != nil {
		s.reject(w, s.requestError(err))
		return
	}
	j, aerr := s.submit(dec, tokenOf(r.Context()), nil)
	if aerr != nil {
		s.reject(w, aerr)
		return
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if j.wait(ctx) {
			v, failure, _ := j.final()
			if failure != nil {
				writeError(w, failure)
				return
			}
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": j.id})
}

func (s *Server) caps() Caps { return Caps{Files: s.cfg.MaxFiles, Bytes: s.cfg.MaxBody} }

// submit holds a decoded task to the token's concurrency and to the
// policy, and queues it as a job; compat is what a compatibility layer
// keeps of its own request, to answer in its terms later. On an error the
// task is released (and the token's slot given back); the caller reports
// the error.
func (s *Server) submit(dec *decoded, tok *Token, compat any) (*job, *apiError) {
	if tok != nil && !tok.acquire() {
		dec.release()
		e := errorf(http.StatusTooManyRequests, codeConcurrency, "", fmt.Sprintf("token %q has %d tasks queued or running, its most: retry when one ends", tok.Name, tok.Concurrency))
		e.retryAfter = time.Second
		return nil, e
	}
	fail := func(e *apiError) (*job, *apiError) {
		dec.release()
		if tok != nil {
			tok.release()
		}
		return nil, e
	}
	if aerr := s.police(dec, tok); aerr != nil {
		return fail(aerr)
	}
	j := newJob(clientName(tok), dec)
	if s.cfg.Limits == "pod" {
		j.limitsSource = "pod"
	}
	j.token, j.compat = tok, compat
	s.mu.Lock()
	s.jobs[j.id] = j
	s.mu.Unlock()
	if err := s.sched.push(j); err != nil {
		s.forget(j)
		if errors.Is(err, errDraining) {
			return fail(errorf(http.StatusServiceUnavailable, codeDraining, "", "the server is shutting down; retry on another"))
		}
		e := errorf(http.StatusTooManyRequests, codeQueueFull, "", fmt.Sprintf("%d tasks are queued, the most this server takes; retry later", s.cfg.Queue))
		e.retryAfter = time.Second
		return fail(e)
	}
	s.metrics.accepted()
	return j, nil
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

// police holds a task to the maxima, the server's and its token's, and
// to the network policy.
func (s *Server) police(d *decoded, tok *Token) *apiError {
	if d.network == sandbox.NetHost {
		switch {
		case tok != nil && !tok.Network:
			return errorf(http.StatusForbidden, codeForbidden, "network", fmt.Sprintf("token %q may not give tasks the host's network: set network = true in its [[token]]", tok.Name))
		case tok == nil && !s.cfg.AllowNetwork:
			return errorf(http.StatusForbidden, codeForbidden, "network", "this server does not give tasks the host's network (jail serve --allow-net)")
		}
	}
	run, compile := s.maxima(d.task.Program.Profile)
	// Each maximum is checked on its own, so that a refusal says whose it
	// is.
	type bound struct {
		run, compile limits.Spec
		whose        string
	}
	bounds := []bound{{run, compile, "this server's maximum"}}
	if tok != nil {
		bounds = append(bounds, bound{tok.Max, tok.MaxCompile, fmt.Sprintf("the maximum of token %q", tok.Name)})
		run, compile = lowest(run, tok.Max), lowest(compile, tok.MaxCompile)
	}
	for _, b := range bounds {
		if e := overMax("limits", d.limits, b.run, b.whose); e != nil {
			return e
		}
		if e := overMax("compile_limits", d.compile, b.compile, b.whose); e != nil {
			return e
		}
		for i, st := range d.task.Program.Steps {
			max := b.run
			if i < len(d.task.Program.Steps)-1 {
				max = b.compile
			}
			if e := overMax(fmt.Sprintf("steps[%d].limits", i), st.Limits, max, b.whose); e != nil {
				return e
			}
		}
	}
	if steps := d.task.Program.Steps; len(steps) > 0 {
		// Raw steps carry their own limits (over the profile's, if one is
		// named), which the task's replace; the maximum fills in only
		// where none of them sets a limit. Filling the task's limits
		// instead would replace every step's own.
		var base limits.Spec
		if p := d.task.Program.Profile; p != nil {
			base = p.Limits.Spec
		}
		for i := range steps {
			given, max := base.Merge(steps[i].Limits).Merge(d.limits), run
			if i < len(steps)-1 {
				given, max = base.Merge(steps[i].Limits).Merge(d.compile), compile
			}
			steps[i].Limits = fill(given, limits.Spec{}, max)
		}
		return nil
	}
	// Where the task sets nothing it gets its profile's limit, or the
	// maximum where that is lower: a default never passes a maximum.
	runDefault, compileDefault := s.defaults(d.task.Program.Profile)
	d.task.Program.Settings.Limits = fill(d.limits, runDefault, run)
	d.task.Program.CompileLimits = fill(d.compile, compileDefault, compile)
	return nil
}

// lowest is, limit by limit, the lower of a's and b's, or the one set.
func lowest(a, b limits.Spec) limits.Spec {
	for _, f := range limits.Fields {
		if f.IsSet(b) && (!f.IsSet(a) || above(f, a, b)) {
			f.Store(&a, f.Value(b))
		}
	}
	return a
}

// fill sets, in the limits a task gave, each one it left out whose
// default is missing or above the maximum, to the maximum.
func fill(given, def, max limits.Spec) limits.Spec {
	for _, f := range limits.Fields {
		if !f.IsSet(given) && f.IsSet(max) && (!f.IsSet(def) || above(f, def, max)) {
			f.Store(&given, f.Value(max))
		}
	}
	return given
}

// above reports whether a's limit f is above b's; both are set.
func above(f limits.Field, a, b limits.Spec) bool {
	switch v := f.Value(a).(type) {
	case int64:
		return v > f.Value(b).(int64)
	case time.Duration:
		return v > f.Value(b).(time.Duration)
	case float64:
		return v > f.Value(b).(float64)
	}
	return false
}

// defaults are the limits a task of profile p runs and compiles with
// where it sets none: the profile's.
func (s *Server) defaults(p *profiles.Profile) (run, compile limits.Spec) {
	if p == nil {
		return limits.Spec{}, limits.Spec{}
	}
	run = p.Limits.Spec
	if p.Run != nil {
		run = p.Run.Limits.Spec
	}
	compile = run
	if p.Compile != nil {
		compile = p.Compile.Limits.Spec
	}
	return run, compile
}

// maxima are the most a task of profile p may ask for, its runs' and its
// compile steps': the server's own where set, else the profile's.
func (s *Server) maxima(p *profiles.Profile) (run, compile limits.Spec) {
	if p == nil {
		return s.cfg.StepsMax.Merge(s.cfg.Max), s.cfg.StepsMax.Merge(s.cfg.Max)
	}
	run, compile = s.defaults(p)
	return run.Merge(s.cfg.Max), compile.Merge(s.cfg.Max)
}

// overMax refuses a limit above its maximum, naming the field and the
// maximum (whose it is); a limit with no maximum is free.
func overMax(prefix string, got, max limits.Spec, whose string) *apiError {
	for _, f := range limits.Fields {
		if f.IsSet(got) && f.IsSet(max) && above(f, got, max) {
			return errorf(http.StatusUnprocessableEntity, codeOverLimit, prefix+"."+f.Name,
				fmt.Sprintf("%s.%s: %s is over %s, %s", prefix, f.Name, f.Format(got), whose, f.Format(max)))
		}
	}
	return nil
}

// lookup finds the task id of the request's client: another client's is
// as good as none. Every face looks tasks up through it.
func (s *Server) lookup(ctx context.Context, id string) *job {
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil || j.client != clientName(tokenOf(ctx)) {
		return nil
	}
	return j
}

// job finds the request's task. A token sees only its own tasks: another
// token's answers 404 as one that never was, so an id learnt elsewhere
// gives nothing away.
func (s *Server) job(w http.ResponseWriter, r *http.Request) *job {
	j := s.lookup(r.Context(), r.PathValue("id"))
	if j == nil {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "id", fmt.Sprintf("no task %q: it never was, or its result was dropped after %v", r.PathValue("id"), s.cfg.Keep)))
	}
	return j
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	if j := s.job(w, r); j != nil {
		writeJSON(w, http.StatusOK, j.shown())
	}
}

// deleteRun cancels a queued or running task; a finished one is
// forgotten.
func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	if s.cancel(j) {
		s.forget(j)
		writeJSON(w, http.StatusOK, j.shown())
		return
	}
	writeJSON(w, http.StatusAccepted, j.shown())
}

// cancel ends a queued job at once and asks a running one to stop; ended
// says the job had ended already.
func (s *Server) cancel(j *job) (ended bool) {
	if s.sched.remove(j) {
		j.end()
		j.mu.Lock()
		j.cancelled, j.state, j.finished = true, Cancelled, time.Now()
		v := j.viewLocked()
		j.mu.Unlock()
		s.metrics.queued.Dec()
		s.finish(j, v)
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch j.state {
	case Done, Cancelled:
		return true
	}
	j.cancelled = true
	if j.cancel != nil {
		j.cancel()
	}
	return false
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
		j.end()
		s.finish(j, v)
		return
	}
	j.state, j.started, j.cancel = Running, time.Now(), cancel
	j.emitLocked("started", map[string]any{"id": j.id})
	j.mu.Unlock()
	s.metrics.running.Inc()
	s.metrics.queueWait.Observe(time.Duration(j.view().QueueTime).Seconds())

	task := j.dec.task
	task.Pools = s.pools
	task.Output = j.output
	if len(task.Tests) == 0 {
		task.Signals, task.Resize = j.signals, j.resize
	}
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
	j.flushOutput()
	if res != nil {
		// The API names settings by their field paths, as its errors do.
		res.SpellWarnings(func(path string) string { return path })
	}
	// Nothing of the task is left once its end is told: neither its
	// files nor its token's slot.
	j.end()

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
	s.finish(j, v)
}

// finish counts a finished job and tells its end (counted before it is
// told, so whoever hears of the end sees it counted), then logs it and has
// it kept packed for --keep: a waiting POST answers before the log line
// is written.
//
// The final view is encoded once, here: the done event carries its JSON,
// which the waiting POST answers with and the packing keeps.
func (s *Server) finish(j *job, v View) {
	s.metrics.finished()
	verdictName := s.count(j, v)
	var done any = v
	if b, err := json.Marshal(v); err == nil {
		done = json.RawMessage(b)
	}
	j.emit("done", done)
	s.logTask(j, v, verdictName)
	s.keeper.add(j)
}

// count counts a finished task by its client, profile and verdict, which
// it returns.
func (s *Server) count(j *job, v View) (verdictName string) {
	verdictName = "error"
	if v.State == Cancelled {
		verdictName = "cancelled"
	}
	if v.Result != nil {
		verdictName = v.Result.Verdict.String()
	}
	s.metrics.tasks.WithLabelValues(j.client, j.profile, verdictName).Inc()
	s.metrics.duration.WithLabelValues(j.profile).Observe(time.Duration(v.Time).Seconds())
	return verdictName
}

// logTask logs a finished task's one line.
func (s *Server) logTask(j *job, v View, verdictName string) {
	attrs := []any{"id", j.id, "client", j.client, "profile", j.profile, "state", v.State,
		"queue_time", time.Duration(v.QueueTime).Seconds(), "time", time.Duration(v.Time).Seconds()}
	if v.Result != nil {
		attrs = append(attrs, "verdict", verdictName, "passed", v.Result.Passed, "total", v.Result.Total)
	}
	if v.Error != nil {
		attrs = append(attrs, "error", v.Error.Message)
	}
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
	_ = j.follow(r.Context(), func(evs []event) error {
		for _, e := range evs {
			b, err := e.json()
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.name, b); err != nil {
				return err
			}
		}
		flusher.Flush()
		return nil
	})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.draining:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case <-s.unready:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	default:
		if p := s.limitsProblem(); p != "" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "limits", "error": p})
			return
		}
		if short := s.pools.Short(); short != "" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "warming", "detail": short})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// startPools starts the pools cfg asks for: each sandbox is its profile's
// with the settings of a request that sets none of its own.
func startPools(cfg Config) (*pool.Pools, error) {
	if len(cfg.Pools) == 0 {
		return nil, nil
	}
	var cfgs []pool.Config
	for _, ps := range cfg.Pools {
		var prof *profiles.Profile
		if ps.Profile != profiles.Default().Name {
			p, err := profiles.Builtin(ps.Profile)
			if err != nil {
				return nil, fmt.Errorf("pool %s: %q is not a profile: use one of %s, or default for raw steps", ps.Profile, ps.Profile, strings.Join(profiles.BuiltinNames(), ", "))
			}
			prof = p
		}
		settings := taskSettings(nil, limits.Spec{}, sandbox.NetNone)
		cfgs = append(cfgs, pool.Config{Name: ps.Profile, Size: ps.Size, Reuse: ps.Reuse, NewSlot: judge.NewSlot,
			Spec: func(slot string) (*sandbox.Spec, error) {
				return judge.WarmSpec(prof, settings, slot)
			}})
	}
	return pool.New(cfg.Runner, cfg.Logger, cfgs)
}

// collectGarbage drops finished tasks after Keep and blobs after their
// time to live.
func (s *Server) collectGarbage() {
	t := time.NewTicker(min(s.cfg.Keep/4, s.cfg.BlobTTL/4, time.Minute) + time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.gcDone:
			return
		}
		now := time.Now()
		s.blobs.sweep(now)
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

// limitsProblem is why the limits the server must hold by cgroups
// cannot be, "" when they can or it need not.
func (s *Server) limitsProblem() string {
	if s.cfg.Limits != "cgroup" || s.cfg.LimitsProblem == "" {
		return ""
	}
	return "limits cannot be enforced by cgroups here: " + s.cfg.LimitsProblem + "; fix the cgroups (jail doctor says how), or serve with --limits=host to run with what this host can hold (each result says what it cannot), or --limits=pod to run one task at a time under a container's own limits"
}

// Unready fails /readyz from now on while tasks are still taken: a load
// balancer whose endpoints are updating still sends some (Kubernetes'
// Service, after a pod is told to stop), and they are served.
func (s *Server) Unready() { s.unreadyOnce.Do(func() { close(s.unready) }) }

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
	s.blobs.close()
	s.pools.Close()
	// What is still queued was never run: its directories go too.
	for {
		j := s.sched.pop(context.Background())
		if j == nil {
			break
		}
		j.end()
	}
}

// release removes a decoded task's files.
func (d *decoded) release() {
	if d.task.Stdin != nil {
		d.task.Stdin.Close()
	}
	d.closeStdin()
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
	if d.releaseImage != nil {
		d.releaseImage()
		d.releaseImage = nil
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
