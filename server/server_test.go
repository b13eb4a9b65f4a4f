package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/judge"
	"jail/sandbox"
	"jail/verdict"
)

// fakeExec stands in for the judge: it records the tasks and ends each
// when its release channel says, so the tests see the queue and the
// streams without sandboxes.
type fakeExec struct {
	mu      sync.Mutex
	tasks   []judge.Task
	answers []string // each task's first answer, read while it runs
	sources []string // each task's first file, read while it runs
	release chan struct{}
	started chan judge.Task
}

func newFake() *fakeExec {
	return &fakeExec{release: make(chan struct{}), started: make(chan judge.Task, 100)}
}

func (f *fakeExec) exec(ctx context.Context, t judge.Task) (*judge.Result, error) {
	f.mu.Lock()
	f.tasks = append(f.tasks, t)
	if len(t.Tests) > 0 {
		b, _ := os.ReadFile(t.Tests[0].Answer)
		f.answers = append(f.answers, string(b))
	}
	if len(t.Program.Files) > 0 {
		src := t.Program.Files[0]
		if src.From != "" {
			src.Data, _ = os.ReadFile(src.From)
		}
		f.sources = append(f.sources, string(src.Data))
	}
	f.mu.Unlock()
	f.started <- t
	if t.Events != nil {
		t.Events(judge.Event{Kind: judge.EventTest, Test: "1"})
	}
	select {
	case <-f.release:
	case <-ctx.Done():
		return &judge.Result{Verdict: verdict.XX}, nil
	}
	tr := judge.TestResult{Name: "1", Verdict: verdict.OK}
	if t.Events != nil {
		t.Events(judge.Event{Kind: judge.EventResult, Test: "1", Result: &tr})
	}
	return &judge.Result{Verdict: verdict.OK, Tests: []judge.TestResult{tr}, Passed: 1, Total: 1}, nil
}

// testServer serves on a unix socket in a temporary directory and on
// loopback TCP; the client talks over the socket.
type testServer struct {
	srv    *Server
	fake   *fakeExec
	client *http.Client
	tcp    string
	tmp    string
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	fake := newFake()
	if cfg.Exec == nil {
		cfg.Exec = fake.exec
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// The blobs are kept apart, so that tmp shows what tasks leave.
	if cfg.BlobDir == "" {
		cfg.BlobDir = t.TempDir()
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	sock := filepath.Join(t.TempDir(), "s")
	uln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(uln)
	go hs.Serve(tln)
	t.Cleanup(func() {
		close(fake.release)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return &testServer{srv: srv, fake: fake, client: client, tcp: "http://" + tln.Addr().String(), tmp: tmp}
}

func (ts *testServer) do(t *testing.T, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://jail"+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	}
	return resp.StatusCode, out, resp.Header
}

const helloTask = `{"profile":"python3","files":[{"name":"main.py","text":"print(1)"}],"tests":[{"stdin":{"text":""},"expect":{"text":"1"}}]}`

// Every bad request is a 4xx naming the field, in the one error shape.
func TestBadRequests(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, MaxBody: 4096, MaxFiles: 3})
	big := `{"profile":"python3","files":[{"name":"a","text":"` + strings.Repeat("x", 5000) + `"}]}`
	tests := []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"malformed JSON", "/v1/runs", `{"profile":`, 400, "bad_json", ""},
		{"not an object", "/v1/runs", `[1,2]`, 400, "bad_json", ""},
		{"empty body", "/v1/runs", ``, 400, "bad_json", ""},
		{"trailing data", "/v1/runs", helloTask + `{}`, 400, "bad_json", ""},
		{"unknown field", "/v1/runs", `{"profile":"python3","bogus":1}`, 400, "invalid", "bogus"},
		{"wrong type", "/v1/runs", `{"profile":3}`, 400, "bad_json", "profile"},
		{"body over the cap", "/v1/runs", big, 413, "too_large", ""},
		{"no profile or steps", "/v1/runs", `{}`, 422, "invalid", "profile"},
		{"unknown profile", "/v1/runs", `{"profile":"cobol"}`, 422, "invalid", "profile"},
		{"file name with ..", "/v1/runs", `{"profile":"python3","files":[{"name":"..","text":""}]}`, 422, "invalid", "files[0].name"},
		{"absolute file name", "/v1/runs", `{"profile":"python3","files":[{"name":"/etc/passwd","text":""}]}`, 422, "invalid", "files[0].name"},
		{"NUL in a file name", "/v1/runs", `{"profile":"python3","files":[{"name":"a\u0000b","text":""}]}`, 422, "invalid", "files[0].name"},
		{"a name repeated", "/v1/runs", `{"profile":"python3","files":[{"name":"a","text":""},{"name":"a","text":""}]}`, 422, "invalid", "files[1].name"},
		{"too many files", "/v1/runs", `{"profile":"python3","files":[{"name":"a","text":""},{"name":"b","text":""},{"name":"c","text":""},{"name":"d","text":""}]}`, 422, "invalid", "files"},
		{"two contents", "/v1/runs", `{"profile":"python3","files":[{"name":"a","text":"","b64":""}]}`, 422, "invalid", "files[0]"},
		{"bad base64", "/v1/runs", `{"profile":"python3","files":[{"name":"a","b64":"!!"}]}`, 422, "invalid", "files[0].b64"},
		{"unknown blob", "/v1/runs", `{"profile":"python3","files":[{"name":"a","ref":"sha256:00"}]}`, 422, "invalid", "files[0].ref"},
		{"unknown limit", "/v1/runs", `{"profile":"python3","limits":{"memory":"1G"}}`, 422, "invalid", "limits.memory"},
		{"bad limit value", "/v1/runs", `{"profile":"python3","limits":{"mem":"lots"}}`, 422, "invalid", "limits.mem"},
		{"limit over the maximum", "/v1/runs", `{"profile":"python3","limits":{"mem":"10G"}}`, 422, "over_limit", "limits.mem"},
		{"compile limit over the maximum", "/v1/runs", `{"profile":"cpp","compile_limits":{"time":"1h"}}`, 422, "over_limit", "compile_limits.time"},
		{"step limit over the maximum", "/v1/runs", `{"steps":[{"argv":["/bin/true"],"limits":{"wall":"1h"}}]}`, 422, "over_limit", "steps[0].limits.wall"},
		{"empty step", "/v1/runs", `{"steps":[{"argv":[]}]}`, 422, "invalid", "steps[0].argv"},
		{"unknown check", "/v1/runs", `{"profile":"python3","check":"tokenz"}`, 422, "invalid", "check"},
		{"a test without its answer", "/v1/runs", `{"profile":"python3","tests":[{"stdin":{"text":""}}]}`, 422, "invalid", "tests[0].expect"},
		{"stdin and tests", "/v1/runs", `{"profile":"python3","stdin":{"text":""},"tests":[{"stdin":{"text":""},"expect":{"text":""}}]}`, 422, "invalid", "stdin"},
		{"the host's network", "/v1/runs", `{"steps":[{"argv":["/bin/true"]}],"network":"host"}`, 403, "forbidden", "network"},
		{"a network that is not one", "/v1/runs", `{"steps":[{"argv":["/bin/true"]}],"network":"wifi"}`, 422, "invalid", "network"},
		{"wait out of range", "/v1/runs?wait=2h", helloTask, 400, "invalid", "wait"},
		{"wait not a duration", "/v1/runs?wait=soon", helloTask, 400, "invalid", "wait"},
		{"no such task", "/v1/runs/nope", "", 404, "not_found", "id"},
		{"no such endpoint", "/v2/runs", "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.body == "" && tt.path != "/v1/runs" {
				method = http.MethodGet
			}
			status, out, _ := ts.do(t, method, tt.path, tt.body)
			assert.Equal(t, tt.status, status, "%v", out)
			require.Contains(t, out, "error")
			e := out["error"].(map[string]any)
			assert.Equal(t, tt.code, e["code"], "%v", e)
			if tt.field != "" {
				assert.Equal(t, tt.field, e["field"], "%v", e)
			}
			assert.NotEmpty(t, e["message"])
		})
	}
	ts.fake.mu.Lock()
	assert.Empty(t, ts.fake.tasks, "no bad request reached the judge")
	ts.fake.mu.Unlock()
	assertEmptyDir(t, ts.tmp, "a refused request leaves nothing behind")
}

func assertEmptyDir(t *testing.T, dir, msg string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Empty(t, names, msg)
}

// A task runs through the judge with what the request asked, and the
// result comes back within ?wait=.
func TestRunWithinWait(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s",
		`{"profile":"cpp","files":[{"name":"sol.cpp","text":"int main(){}"}],"limits":{"time":"1s","mem":128000000},"tests":[{"name":"a","stdin":{"text":"1"},"expect":{"b64":"Mg=="}}],"stop_on_fail":true}`)
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, "done", out["state"])
	assert.Equal(t, "OK", out["result"].(map[string]any)["verdict"])
	task := ts.fake.tasks[0]
	assert.Equal(t, "main.cpp", task.Program.Files[0].Name, "the one source takes the profile's name for it")
	assert.Equal(t, "int main(){}", string(task.Program.Files[0].Data))
	assert.Equal(t, time.Second, task.Program.Settings.Limits.CPUTime)
	assert.Equal(t, int64(128000000), task.Program.Settings.Limits.Memory, "a bare number is bytes")
	assert.True(t, task.StopOnFail)
	require.Len(t, task.Tests, 1)
	assert.Equal(t, "a", task.Tests[0].Name)
	assert.Equal(t, []string{"2"}, ts.fake.answers, "nothing is rewritten: no newline added")
	// The task's files are gone once it is done.
	require.Eventually(t, func() bool {
		entries, _ := os.ReadDir(ts.tmp)
		return len(entries) == 0
	}, 5*time.Second, 10*time.Millisecond)
}

// A raw step's own limits hold, with the server's maxima only where
// neither the step nor the task sets one, and the task's limits over the
// step's.
func TestStepLimits(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s",
		`{"steps":[{"argv":["/bin/true"],"limits":{"wall":"3s","output":"64K"}}],"limits":{"output":"32K"}}`)
	require.Equal(t, 200, status, "%v", out)
	_, specs, err := ts.fake.tasks[0].Program.Specs(nil)
	require.NoError(t, err)
	require.Len(t, specs, 1)
	l := specs[0].Limits
	assert.Equal(t, 3*time.Second, l.Wall, "the step's own")
	assert.Equal(t, int64(32<<10), l.Output, "the task's, over the step's")
	assert.Equal(t, DefaultStepsMax.CPUTime, l.CPUTime, "the maximum where nothing is set")
	assert.Equal(t, DefaultStepsMax.Memory, l.Memory, "the maximum where nothing is set")
}

// Past ?wait= the answer is 202 with the id, and the task goes on.
func TestRunPastWait(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=50ms", helloTask)
	require.Equal(t, 202, status)
	id := out["id"].(string)
	_, out, _ = ts.do(t, http.MethodGet, "/v1/runs/"+id, "")
	assert.Equal(t, "running", out["state"])
	ts.fake.release <- struct{}{}
	require.Eventually(t, func() bool {
		_, out, _ := ts.do(t, http.MethodGet, "/v1/runs/"+id, "")
		return out["state"] == "done"
	}, 5*time.Second, 10*time.Millisecond)
}

// The event stream replays what happened and follows the task to its end,
// always finishing with done.
func TestEvents(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	id := out["id"].(string)
	<-ts.fake.started
	req, _ := http.NewRequest(http.MethodGet, "http://jail/v1/runs/"+id+"/events", nil)
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	go func() { ts.fake.release <- struct{}{} }()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			names = append(names, name)
		}
	}
	assert.Equal(t, []string{"queued", "started", "started", "test", "done"}, names)
}

// DELETE cancels a running task and a queued one; both end "cancelled",
// and the queued one never reaches the judge.
func TestCancel(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	running := out["id"].(string)
	<-ts.fake.started
	_, out, _ = ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	queued := out["id"].(string)

	status, out, _ := ts.do(t, http.MethodDelete, "/v1/runs/"+queued, "")
	assert.Equal(t, 202, status)
	assert.Equal(t, "cancelled", out["state"])
	status, _, _ = ts.do(t, http.MethodDelete, "/v1/runs/"+running, "")
	assert.Equal(t, 202, status)
	require.Eventually(t, func() bool {
		_, out, _ := ts.do(t, http.MethodGet, "/v1/runs/"+running, "")
		return out["state"] == "cancelled"
	}, 5*time.Second, 10*time.Millisecond)
	ts.fake.mu.Lock()
	assert.Len(t, ts.fake.tasks, 1, "the queued task was never run")
	ts.fake.mu.Unlock()
	status, _, _ = ts.do(t, http.MethodDelete, "/v1/runs/"+running, "")
	assert.Equal(t, 200, status, "deleting a finished task forgets it")
	status, _, _ = ts.do(t, http.MethodGet, "/v1/runs/"+running, "")
	assert.Equal(t, 404, status)
	assertEmptyDir(t, ts.tmp, "cancelled tasks leave nothing behind")
}

// A full queue is 429 with Retry-After, and nothing is left of the task.
func TestQueueFull(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Queue: 1})
	ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	<-ts.fake.started
	status, _, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	require.Equal(t, 202, status, "one may wait")
	status, out, h := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, 429, status)
	assert.Equal(t, "queue_full", out["error"].(map[string]any)["code"])
	assert.Equal(t, "1", h.Get("Retry-After"))
}

// Clients are served in turn: a burst from one does not starve another.
func TestSchedulerFairness(t *testing.T) {
	s := newScheduler(100)
	mk := func(client string) *job { return &job{id: client, client: client} }
	for range 3 {
		require.NoError(t, s.push(mk("a")))
	}
	require.NoError(t, s.push(mk("b")))
	require.NoError(t, s.push(mk("c")))
	var order []string
	for range 5 {
		order = append(order, s.pop(context.Background()).client)
	}
	assert.Equal(t, []string{"a", "b", "c", "a", "a"}, order)
	s.close()
	assert.Nil(t, s.pop(context.Background()), "closed and empty")
	assert.ErrorIs(t, s.push(mk("a")), errDraining)
}

// Without tokens, only loopback and unix-socket peers are served.
func TestLocalOnly(t *testing.T) {
	for addr, want := range map[string]bool{"": true, "@": true, "127.0.0.1:5": true, "[::1]:5": true,
		"10.0.0.1:5": false, "[2001:db8::1]:5": false, "garbage": false} {
		assert.Equal(t, want, isLocal(addr), addr)
	}
	ts := startServer(t, Config{Parallel: 1})
	resp, err := http.Get(ts.tcp + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "loopback TCP is served")
}

// Shutdown lets the running task finish within the drain, refuses new
// ones, and /readyz says so.
func TestShutdownDrains(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	id := out["id"].(string)
	<-ts.fake.started
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
		close(done)
	}()
	require.Eventually(t, func() bool {
		status, _, _ := ts.do(t, http.MethodGet, "/readyz", "")
		return status == 503
	}, 5*time.Second, 10*time.Millisecond)
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, 503, status)
	assert.Equal(t, "draining", out["error"].(map[string]any)["code"])
	ts.fake.release <- struct{}{}
	<-done
	_, out, _ = ts.do(t, http.MethodGet, "/v1/runs/"+id, "")
	assert.Equal(t, "done", out["state"], "the running task finished")
}

// When the drain runs out, the running task is cancelled and says so, and
// the queued one ends cancelled without reaching the judge.
func TestShutdownCancelsTheRest(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	running := out["id"].(string)
	<-ts.fake.started
	_, out, _ = ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	queued := out["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ts.srv.Shutdown(ctx)
	for _, id := range []string{running, queued} {
		_, out, _ := ts.do(t, http.MethodGet, "/v1/runs/"+id, "")
		assert.Equal(t, "cancelled", out["state"], "%s: %v", id, out)
	}
	ts.fake.mu.Lock()
	assert.Len(t, ts.fake.tasks, 1, "the queued task was never run")
	ts.fake.mu.Unlock()
	assertEmptyDir(t, ts.tmp, "cancelled tasks leave nothing behind")
}

func TestMetrics(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	go func() { ts.fake.release <- struct{}{} }()
	ts.do(t, http.MethodPost, "/v1/runs?wait=10s", helloTask)
	ts.do(t, http.MethodPost, "/v1/runs", `{"profile":"cobol"}`)
	req, _ := http.NewRequest(http.MethodGet, "http://jail/metrics", nil)
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	assert.Contains(t, text, `jail_tasks_total{client="local",profile="python3",verdict="OK"} 1`)
	assert.Contains(t, text, `jail_rejected_total{code="invalid"} 1`)
	assert.Contains(t, text, "jail_queue_length 0")
	assert.Contains(t, text, "jail_running 0")
}

// With --limits=cgroup on a host whose cgroups cannot hold the limits,
// the server is not ready and takes no task, saying why and what to do;
// never a silent run without them.
func TestLimitsByCgroupOrNothing(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Limits: "cgroup", LimitsProblem: "no cgroup backend (cgroup v1)"})
	status, out, _ := ts.do(t, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "limits", out["status"])
	assert.Contains(t, out["error"], "limits cannot be enforced by cgroups here: no cgroup backend (cgroup v1)")
	assert.Contains(t, out["error"], "--limits=pod")
	status, out, _ = ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "limits_unenforceable", out["error"].(map[string]any)["code"], "%v", out)
	ts.fake.mu.Lock()
	assert.Empty(t, ts.fake.tasks, "no task ran")
	ts.fake.mu.Unlock()

	// Enforceable: ready, as any server.
	ts = startServer(t, Config{Parallel: 1, Limits: "cgroup"})
	status, _, _ = ts.do(t, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, status)
	_, err := New(Config{Limits: "rlimits"})
	assert.ErrorContains(t, err, `limits "rlimits": give cgroup or pod`)
}

// With --limits=pod the container's limits hold the tasks: one at a
// time, each view saying so.
func TestLimitsFromThePod(t *testing.T) {
	ts := startServer(t, Config{Parallel: 8, Limits: "pod"})
	_, b, _ := ts.raw(t, http.MethodGet, "/metrics", nil, nil)
	assert.Contains(t, string(b), "\njail_parallel 1\n")
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s", helloTask)
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, "pod", out["limits_source"])
	ts = startServer(t, Config{Parallel: 1})
	go func() { ts.fake.release <- struct{}{} }()
	_, out, _ = ts.do(t, http.MethodPost, "/v1/runs?wait=10s", helloTask)
	assert.NotContains(t, out, "limits_source", "a run's own cgroup, or the host's warnings, as ever")
}

// jail_backlog_per_slot, what an autoscaler scales on, is the queued and
// running tasks per worker, however a task leaves.
func TestBacklogPerSlot(t *testing.T) {
	ts := startServer(t, Config{Parallel: 2})
	backlog := func() string {
		_, b, _ := ts.raw(t, http.MethodGet, "/metrics", nil, nil)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "jail_backlog_per_slot "); ok {
				return v
			}
		}
		return "absent"
	}
	assert.Equal(t, "0", backlog())
	var ids []string
	for range 5 {
		_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
		ids = append(ids, out["id"].(string))
	}
	<-ts.fake.started
	<-ts.fake.started
	assert.Equal(t, "2.5", backlog(), "two running and three queued on two workers")
	ts.do(t, http.MethodDelete, "/v1/runs/"+ids[4], "")
	assert.Equal(t, "2", backlog(), "a queued task cancelled")
	for range 4 {
		ts.fake.release <- struct{}{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for backlog() != "0" {
		require.True(t, time.Now().Before(deadline), "the backlog stays %s once every task ended", backlog())
		time.Sleep(10 * time.Millisecond)
	}
}

// The sandbox's warnings name settings as references; the API spells them
// as its field paths, never as jail run's flags.
func TestWarningsSpelledAsFields(t *testing.T) {
	exec := func(context.Context, judge.Task) (*judge.Result, error) {
		run := &sandbox.Result{Verdict: verdict.OK, Warnings: []string{"{limits.mem} is NOT enforced: no cgroup"}}
		return &judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run", Result: run}}, nil
	}
	ts := startServer(t, Config{Parallel: 1, Exec: exec})
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s", `{"steps":[{"argv":["/bin/true"]}]}`)
	require.Equal(t, 200, status, "%v", out)
	run := out["result"].(map[string]any)["run"].(map[string]any)
	assert.Equal(t, []any{"limits.mem is NOT enforced: no cgroup"}, run["warnings"])
}
