package main_test

// `jail serve` for real: the binary runs as the unprivileged test user,
// on a unix socket or on loopback, and runs every task in real sandboxes.
// The tests submit tasks of every kind, cancel them, drop their own
// connections, stop the server under load and mix hostile programs with
// benign ones, and after each check that nothing is left: no process, no
// file in the server's TMPDIR, no mount, no descriptor.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// served is one `jail serve` process and a client for it.
type served struct {
	j      *testutil.Jail
	run    *testutil.Running
	pid    int
	client *http.Client
	base   string // the URL the client talks to
	sock   string // the unix socket, when it listens on one
	tmp    string // the server's TMPDIR
	// pooled says it keeps warm sandboxes (--pool default=…,python3=…).
	pooled bool
	// cgroup is a v1 pids cgroup the server was put in, when the tests
	// run as root: every process it starts stays in it, whoever its
	// parent ends up being. "" where there is none.
	cgroup string

	exited chan struct{}
	res    testutil.Result
	err    error
}

// serve starts `jail serve` as the test user, on a unix socket in a
// directory of its own (transport "unix") or on a free loopback port
// ("tcp"), with its own TMPDIR, and waits until it answers /healthz.
func serve(t *testing.T, transport string, args ...string) *served {
	t.Helper()
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	s := &served{j: j, tmp: filepath.Join(j.Dir, "tmp"), exited: make(chan struct{})}
	require.NoError(t, os.Mkdir(s.tmp, 0o755))
	j.Chown(t, s.tmp)
	var listen string
	switch transport {
	case "unix":
		dir := filepath.Join(j.Dir, "sock")
		require.NoError(t, os.Mkdir(dir, 0o755))
		j.Chown(t, dir)
		s.sock = filepath.Join(dir, "jail.sock")
		listen = "unix:" + s.sock
		s.base = "http://jail"
	case "tcp":
		addr := freeLoopbackPort(t)
		listen = addr
		s.base = "http://" + addr
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	s.client = s.newClient()
	// This host's test user may have no cgroups: the tests serve with
	// what it can hold, unless they ask.
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--limits") }) {
		args = append([]string{"--limits=host"}, args...)
	}
	s.run = j.Start(t, testutil.Opts{Env: []string{"TMPDIR=" + s.tmp}}, append([]string{"serve", "--listen", listen}, args...)...)
	s.pid = s.run.Cmd.Process.Pid
	// Before the server has started any sandbox: it starts none until a
	// task comes.
	s.cgroup = trackInCgroup(t, s.pid)
	go func() {
		s.res, s.err = s.run.WaitErr()
		close(s.exited)
	}()
	t.Cleanup(func() { s.kill(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("jail serve exited before serving: %v\n%s", s.err, s.res)
		default:
		}
		if resp, err := s.client.Get(s.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jail serve --listen %s did not answer /healthz in 30s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitReady waits until /readyz says ready: a server with pools is
// ready once they are full.
func (s *served) awaitReady(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		code, b := s.do(t, s.client, http.MethodGet, "/readyz", nil)
		return code == http.StatusOK, fmt.Sprintf("/readyz: %d %s", code, b)
	})
}

// newClient is a client of its own, with its own connections.
func (s *served) newClient() *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	if s.sock != "" {
		sock := s.sock
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
	}
	return &http.Client{Transport: tr}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// trackInCgroup moves pid into a new v1 pids cgroup below the test's own,
// when the test is root and the host has the v1 pids hierarchy, and
// returns its directory; "" otherwise. The cgroup is removed at the end,
// after anything still in it is killed.
func trackInCgroup(t *testing.T, pid int) string {
	t.Helper()
	if os.Getuid() != 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	var own string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "pids" {
			own = parts[2]
		}
	}
	root := "/sys/fs/cgroup/pids"
	if own == "" {
		return ""
	}
	if _, err := os.Stat(filepath.Join(root, own, "cgroup.procs")); err != nil {
		return ""
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	dir := filepath.Join(root, own, "jail-serve-test-"+hex.EncodeToString(suffix))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Logf("no pids cgroup to track the server in (%v); tracking its descendants only", err)
		return ""
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		os.Remove(dir)
		t.Logf("no pids cgroup to track the server in (%v); tracking its descendants only", err)
		return ""
	}
	t.Cleanup(func() {
		// Whatever is still here was started by this test's server.
		for range 100 {
			pids := cgroupProcs(dir)
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing the test's cgroup %s: %v", dir, err)
		}
	})
	return dir
}

func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// kill ends a server the test did not stop, and what it left running.
func (s *served) kill(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	left := s.leftovers()
	_ = s.run.Cmd.Process.Kill()
	<-s.exited
	for _, p := range left {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// proc is a process of the server's besides itself.
type proc struct {
	pid  int
	comm string
}

func (p proc) String() string { return fmt.Sprintf("%d (%s)", p.pid, p.comm) }

// leftovers are the processes of the server's but the server itself:
// its descendants, and everything in its cgroup (which holds any process
// that left the tree too).
func (s *served) leftovers() []proc {
	seen := map[int]bool{s.pid: true}
	var out []proc
	add := func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		comm, _, ok := testutil.ProcStat(pid)
		if !ok {
			return // gone meanwhile
		}
		out = append(out, proc{pid, comm})
	}
	parents := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := testutil.ProcStat(pid); ok {
			parents[pid] = ppid
		}
	}
	for pid := range parents {
		for p, n := parents[pid], 0; p > 1 && n < 64; p, n = parents[p], n+1 {
			if p == s.pid {
				add(pid)
				break
			}
		}
	}
	if s.cgroup != "" {
		for _, pid := range cgroupProcs(s.cgroup) {
			add(pid)
		}
	}
	return out
}

// tmpLeft lists what is in the server's TMPDIR, but for the blob store a
// running server keeps there: that is the server's, and its exit must
// remove it.
func (s *served) tmpLeft(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(s.tmp)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "jail-blobs-") && !s.hasExited() {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

func (s *served) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// mountsLeft lists the host's mounts below the server's directory: the
// sandboxes mount in namespaces of their own, so there must be none.
func (s *served) mountsLeft(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s.j.Dir) {
			out = append(out, line)
		}
	}
	return out
}

// requireClean waits until the server has no process but itself and an
// empty TMPDIR, and fails the test if that does not come. A server with
// pools keeps its warm sandboxes: as many inits (each with its pid 1) and
// slots as its pools say are ready, and nothing more; a reused one may
// hold its next task's PROG, made ahead, as a child of its init.
func (s *served) requireClean(t *testing.T, what string) {
	t.Helper()
	eventually(t, 20*time.Second, func() (bool, string) {
		procs, files := s.leftovers(), s.tmpLeft(t)
		ready, zygotes := 0, 0
		if s.pooled && !s.hasExited() {
			ready = int(s.metric(t, `jail_pool_ready{pool="default"}`) + s.metric(t, `jail_pool_ready{pool="python3"}`))
			// The one process that forks the pools' inits.
			zygotes = 1
		}
		inits, aheads, others, slots := 0, 0, 0, 0
		for _, p := range procs {
			switch p.comm {
			case "jail-init":
				inits++
			case "jail-zygote":
				zygotes--
			case "jail-ahead":
				aheads++
				if _, ppid, _ := testutil.ProcStat(p.pid); !slices.ContainsFunc(procs, func(q proc) bool { return q.pid == ppid && q.comm == "jail-init" }) {
					others++
				}
			default:
				others++
			}
		}
		for _, f := range files {
			if strings.HasPrefix(f, "jail-work-") {
				slots++
			}
		}
		return zygotes == 0 && others == 0 && inits == 2*ready && aheads <= ready && len(files) == slots && slots == ready,
			fmt.Sprintf("%s: processes left %v, files left in TMPDIR %v, with %d warm sandboxes ready", what, procs, files, ready)
	})
	assert.Empty(t, s.mountsLeft(t), "%s: mounts left", what)
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not so after %v: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit: status 0 within the
// drain (plus the time to close connections), the socket removed, and
// nothing left. It returns the server's task log lines.
func (s *served) stop(t *testing.T, drain time.Duration) []taskLine {
	t.Helper()
	require.NoError(t, s.run.Cmd.Process.Signal(syscall.SIGTERM))
	return s.stopped(t, drain)
}

// stopped is stop for a server SIGTERM has been sent to.
func (s *served) stopped(t *testing.T, drain time.Duration) []taskLine {
	t.Helper()
	// The drain, the 5s jail serve gives connections to close, and room
	// for a loaded machine.
	select {
	case <-s.exited:
	case <-time.After(drain + 5*time.Second + 20*time.Second):
		t.Fatalf("jail serve did not exit after SIGTERM and a %v drain", drain)
	}
	require.NoError(t, s.err)
	assert.Equal(t, 0, s.res.ExitCode, "jail serve's exit status after SIGTERM\n%s", s.res.Stderr)
	if s.sock != "" {
		_, err := os.Lstat(s.sock)
		assert.True(t, errors.Is(err, os.ErrNotExist), "the socket %s is removed on exit: %v", s.sock, err)
	}
	s.requireClean(t, "after the server exited")
	return s.taskLines(t)
}

// taskLine is the log line jail serve writes for each finished task.
type taskLine struct {
	Msg     string `json:"msg"`
	ID      string `json:"id"`
	Profile string `json:"profile"`
	State   string `json:"state"`
	Verdict string `json:"verdict"`
	Error   string `json:"error"`
}

// taskLines parses the server's stderr, once it has exited: JSON lines,
// one "serving" first and one "task" per task.
func (s *served) taskLines(t *testing.T) []taskLine {
	t.Helper()
	var out []taskLine
	serving := 0
	for _, line := range strings.Split(strings.TrimSpace(s.res.Stderr), "\n") {
		var l taskLine
		require.NoError(t, json.Unmarshal([]byte(line), &l), "every log line is JSON: %q", line)
		switch l.Msg {
		case "serving":
			serving++
		case "task":
			out = append(out, l)
		}
	}
	assert.Equal(t, 1, serving, "one serving line:\n%s", s.res.Stderr)
	return out
}

// view is a task as GET /v1/runs/{id} shows it.
type view struct {
	ID      string       `json:"id"`
	State   string       `json:"state"`
	Profile string       `json:"profile"`
	Result  *serveResult `json:"result"`
	Error   *apiErr      `json:"error"`
}

type serveResult struct {
	judgeResult
	Run *serveRun `json:"run"`
}

// serveRun is a task's one run: a test's fields, and the limits' backend
// and warnings, which the run of a task without tests carries itself.
type serveRun struct {
	judgeTest
	LimitBackend string   `json:"limit_backend"`
	Warnings     []string `json:"warnings"`
	Reason       string   `json:"reason"`
	MadeAhead    bool     `json:"made_ahead"`
	PeakMemory   int64    `json:"peak_memory"`
}

type apiErr struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// do sends a request and returns the status and body.
func (s *served) do(t *testing.T, c *http.Client, method, path string, body any) (int, []byte) {
	t.Helper()
	code, b, err := s.doErr(context.Background(), c, method, path, body)
	require.NoError(t, err)
	return code, b
}

// doErr is do for goroutines, which must not end the test.
func (s *served) doErr(ctx context.Context, c *http.Client, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// judgeTask runs a task with ?wait= and requires its result.
func (s *served) judgeTask(t *testing.T, task any) *view {
	t.Helper()
	code, b := s.do(t, s.client, http.MethodPost, "/v1/runs?wait=60s", task)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var v view
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	require.Equal(t, "done", v.State, "%s", b)
	require.NotNil(t, v.Result, "%s", b)
	return &v
}

// submit posts a task without waiting and returns its id.
func (s *served) submit(t *testing.T, task any) string {
	t.Helper()
	code, b := s.do(t, s.client, http.MethodPost, "/v1/runs", task)
	require.Equal(t, http.StatusAccepted, code, "%s", b)
	var v struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	require.NotEmpty(t, v.ID)
	return v.ID
}

func (s *served) get(t *testing.T, id string) *view {
	t.Helper()
	code, b := s.do(t, s.client, http.MethodGet, "/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	var v view
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return &v
}

// awaitState polls a task until it is in one of states.
func (s *served) awaitState(t *testing.T, id string, states ...string) *view {
	t.Helper()
	var v *view
	eventually(t, 60*time.Second, func() (bool, string) {
		v = s.get(t, id)
		for _, st := range states {
			if v.State == st {
				return true, ""
			}
		}
		return false, fmt.Sprintf("task %s is %s, not %v", id, v.State, states)
	})
	return v
}

// metric reads one series of /metrics, 0 when absent.
func (s *served) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, b := s.do(t, s.client, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, code)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, "%q", line)
			return f
		}
	}
	return 0
}

// fdCount is how many descriptors the server has open.
func (s *served) fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid))
	require.NoError(t, err)
	return len(ents)
}

// Tasks, as JSON.

type m = map[string]any

func text(s string) m { return m{"text": s} }

func pyTask(src string, extra m) m {
	task := m{"profile": "python3", "files": []m{{"name": "main.py", "text": src}}}
	for k, v := range extra {
		task[k] = v
	}
	return task
}

func stepsTask(limits m, argv ...string) m {
	step := m{"argv": argv}
	if limits != nil {
		step["limits"] = limits
	}
	return m{"steps": []m{step}}
}

const helloPy = "import sys\nsys.stdout.write('hello, ' + sys.stdin.read())"

// doublingCpp answers 2n, except for 5, where it is one off.
const doublingCpp = `#include <iostream>
int main() { long long n; std::cin >> n; std::cout << (n == 5 ? 2 * n + 1 : 2 * n) << "\n"; }
`

// TestServeEndToEnd runs each kind of task through the real server on a
// unix socket and on loopback TCP, then stops the server with SIGTERM and
// checks that it leaves nothing behind.
func TestServeEndToEnd(t *testing.T) {
	needProfile(t, "python3")
	needProfile(t, "cpp")
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			s := serve(t, transport, "--parallel", "2")

			t.Run("hello with stdin", func(t *testing.T) {
				v := s.judgeTask(t, pyTask(helloPy, m{"stdin": text("world")}))
				assert.Equal(t, "python3", v.Profile)
				assert.Equal(t, "OK", v.Result.Verdict)
				require.NotNil(t, v.Result.Run)
				assert.Equal(t, "hello, world", v.Result.Run.Output.Text, "the output exactly, nothing added")
			})
			t.Run("C++ with tests", func(t *testing.T) {
				v := s.judgeTask(t, m{"profile": "cpp", "files": []m{{"name": "main.cpp", "text": doublingCpp}},
					"tests": []m{
						{"name": "1", "stdin": text("1\n"), "expect": text("2\n")},
						{"name": "2", "stdin": text("2\n"), "expect": text("4\n")},
						{"name": "5", "stdin": text("5\n"), "expect": text("10\n")},
					}})
				assert.Equal(t, "WA", v.Result.Verdict)
				assert.Equal(t, []string{"1:OK", "2:OK", "5:WA"}, v.Result.verdicts())
				assert.Equal(t, 2, v.Result.Passed)
				assert.Equal(t, 3, v.Result.Total)
			})
			t.Run("TLE", func(t *testing.T) {
				v := s.judgeTask(t, pyTask("while True: pass", m{"limits": m{"time": "1s"}}))
				assert.Equal(t, "TLE", v.Result.Verdict)
				require.NotNil(t, v.Result.Run)
				assert.Equal(t, "time", v.Result.Run.LimitHit)
			})
			t.Run("CE", func(t *testing.T) {
				v := s.judgeTask(t, m{"profile": "cpp", "files": []m{{"name": "main.cpp", "text": "int main() { return undefined; }\n"}}})
				assert.Equal(t, "CE", v.Result.Verdict)
				require.NotEmpty(t, v.Result.Compile)
				c := v.Result.Compile[len(v.Result.Compile)-1]
				assert.Equal(t, "CE", c.Verdict)
				require.NotNil(t, c.Output)
				assert.Contains(t, c.Output.Text, "undefined")
			})
			t.Run("raw steps", func(t *testing.T) {
				v := s.judgeTask(t, stepsTask(nil, "/bin/sh", "-c", "echo hi"))
				assert.Equal(t, "steps", v.Profile)
				assert.Equal(t, "OK", v.Result.Verdict)
				require.NotNil(t, v.Result.Run)
				assert.Equal(t, "hi\n", v.Result.Run.Output.Text)
			})
			t.Run("events end with done", func(t *testing.T) {
				id := s.submit(t, pyTask("print(int(input()) * 2)", m{"tests": []m{
					{"stdin": text("1\n"), "expect": text("2\n")},
					{"stdin": text("3\n"), "expect": text("6\n")},
				}}))
				names, last := readEvents(t, s, id, -1)
				require.NotEmpty(t, names)
				assert.Equal(t, "queued", names[0], "%v", names)
				assert.Equal(t, "done", names[len(names)-1], "%v", names)
				assert.Equal(t, 1, countOf(names, "done"), "%v", names)
				assert.Equal(t, 2, countOf(names, "test"), "one test event per test: %v", names)
				var v view
				require.NoError(t, json.Unmarshal([]byte(last), &v), "%s", last)
				assert.Equal(t, "done", v.State)
				require.NotNil(t, v.Result)
				assert.Equal(t, "OK", v.Result.Verdict)
			})
			t.Run("DELETE of a running task", func(t *testing.T) {
				id := s.submit(t, stepsTask(nil, "/bin/sleep", "30"))
				s.awaitState(t, id, "running")
				eventually(t, 30*time.Second, func() (bool, string) {
					procs := s.leftovers()
					for _, p := range procs {
						if p.comm == "sleep" {
							return true, ""
						}
					}
					return false, fmt.Sprintf("no sleep among the server's processes %v", procs)
				})
				code, b := s.do(t, s.client, http.MethodDelete, "/v1/runs/"+id, nil)
				assert.Equal(t, http.StatusAccepted, code, "%s", b)
				v := s.awaitState(t, id, "cancelled", "done")
				assert.Equal(t, "cancelled", v.State)
				s.requireClean(t, "after the DELETE")
			})

			s.requireClean(t, "after the tasks")
			lines := s.stop(t, 30*time.Second)
			assert.Len(t, lines, 7, "one log line per task")
			if transport == "tcp" {
				_, err := s.client.Get(s.base + "/healthz")
				assert.Error(t, err, "nothing listens after the exit")
			}
		})
	}
}

// readEvents reads a task's event stream to its end, or only its first n
// events when n >= 0, and returns the event names and the last event's
// data.
func readEvents(t *testing.T, s *served, id string, n int) ([]string, string) {
	t.Helper()
	resp, err := s.client.Get(s.base + "/v1/runs/" + id + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var names []string
	var last string
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		} else if data, ok := strings.CutPrefix(line, "data: "); ok {
			last = data
			if n >= 0 && len(names) >= n {
				break
			}
		}
	}
	if n < 0 {
		require.NoError(t, sc.Err())
	}
	return names, last
}

func countOf(names []string, name string) int {
	n := 0
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

// TestServeClientDisconnects: a client that gives up during ?wait= and
// one that leaves the event stream do not take the task with them, nor
// leave it running: it finishes, and nothing of it is left.
func TestServeClientDisconnects(t *testing.T) {
	needProfile(t, "python3")
	s := serve(t, "unix", "--parallel", "1")
	const nap = "import time\ntime.sleep(1.5)\nprint('slept')"

	t.Run("during wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := s.doErr(ctx, s.newClient(), http.MethodPost, "/v1/runs?wait=60s", pyTask(nap, nil))
			errc <- err
		}()
		// The client leaves once its task runs.
		eventually(t, 30*time.Second, func() (bool, string) {
			return s.metric(t, "jail_running") == 1, "the task is not running"
		})
		cancel()
		assert.ErrorIs(t, <-errc, context.Canceled)
		eventually(t, 60*time.Second, func() (bool, string) {
			n := s.metric(t, `jail_tasks_total{client="local",profile="python3",verdict="OK"}`)
			return n == 1, fmt.Sprintf("%v python3 tasks ended OK", n)
		})
		s.requireClean(t, "after the waiting client left")
	})
	t.Run("during events", func(t *testing.T) {
		id := s.submit(t, pyTask(nap, nil))
		// The stream's first event is out; then the client hangs up.
		names, _ := readEvents(t, s, id, 1)
		assert.Equal(t, []string{"queued"}, names)
		v := s.awaitState(t, id, "done", "cancelled")
		assert.Equal(t, "done", v.State)
		require.NotNil(t, v.Result)
		assert.Equal(t, "OK", v.Result.Verdict)
		require.NotNil(t, v.Result.Run)
		assert.Equal(t, "slept\n", v.Result.Run.Output.Text)
		s.requireClean(t, "after the streaming client left")
	})

	lines := s.stop(t, 30*time.Second)
	require.Len(t, lines, 2)
	for _, l := range lines {
		assert.Equal(t, "done", l.State, "%+v", l)
		assert.Equal(t, "OK", l.Verdict, "%+v", l)
	}
}

// TestServeLimitsCgroup: --limits=cgroup on this host is ready only if
// its cgroups hold memory and process limits; if not, it says why, and
// refuses tasks rather than run them unlimited.
func TestServeLimitsCgroup(t *testing.T) {
	s := serve(t, "unix", "--limits", "cgroup")
	code, b, err := s.doErr(context.Background(), s.client, http.MethodGet, "/readyz", nil)
	require.NoError(t, err)
	if code == http.StatusOK {
		id := s.submit(t, stepsTask(nil, "/bin/true"))
		v := s.awaitState(t, id, "done")
		require.NotNil(t, v.Result)
		assert.Equal(t, "OK", v.Result.Verdict)
	} else {
		assert.Equal(t, http.StatusServiceUnavailable, code, "%s", b)
		assert.Contains(t, string(b), "limits cannot be enforced by cgroups here")
		code, b, err = s.doErr(context.Background(), s.client, http.MethodPost, "/v1/runs", stepsTask(nil, "/bin/true"))
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, code, "%s", b)
		assert.Contains(t, string(b), "limits_unenforceable")
	}
	s.stop(t, 30*time.Second)

	r := s.j.Run(t, "serve", "--limits", "rlimits")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, `jail: --limits "rlimits": give host, cgroup or pod`)
}

// TestServeDrainDelay stops a server as a Kubernetes Deployment does:
// after SIGTERM, /readyz fails at once while tasks are still taken for
// --drain-delay (the Service's endpoints are updating), then new ones
// get 503; the task running all along finishes, and the server exits 0.
func TestServeDrainDelay(t *testing.T) {
	const drain = 20 * time.Second
	s := serve(t, "unix", "--parallel", "2", "--drain", drain.String(), "--drain-delay", "5s")
	running := s.submit(t, stepsTask(nil, "/bin/sh", "-c", "sleep 3; echo finished"))
	s.awaitState(t, running, "running")
	require.NoError(t, s.run.Cmd.Process.Signal(syscall.SIGTERM))
	eventually(t, 5*time.Second, func() (bool, string) {
		code, b, err := s.doErr(context.Background(), s.client, http.MethodGet, "/readyz", nil)
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(string(b), "draining"),
			fmt.Sprintf("/readyz after SIGTERM: %d %s %v", code, b, err)
	})
	late := s.submit(t, stepsTask(nil, "/bin/sh", "-c", "echo served"))
	eventually(t, 30*time.Second, func() (bool, string) {
		code, b, err := s.doErr(context.Background(), s.client, http.MethodPost, "/v1/runs", stepsTask(nil, "/bin/true"))
		if err != nil {
			return true, "" // closed at the door
		}
		return code == http.StatusServiceUnavailable, fmt.Sprintf("POST after the delay: %d %s", code, b)
	})
	byID := map[string]taskLine{}
	for _, l := range s.stopped(t, drain+5*time.Second) {
		byID[l.ID] = l
	}
	for _, id := range []string{running, late} {
		assert.Equal(t, "done", byID[id].State, "%+v", byID[id])
		assert.Equal(t, "OK", byID[id].Verdict, "%+v", byID[id])
	}
}

// TestServeSIGTERMUnderLoad stops a server with tasks running and queued:
// the short ones finish, the long ones are cancelled when the drain runs
// out, new tasks are refused, and the server exits 0 leaving nothing.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	const drain = 2 * time.Second
	s := serve(t, "unix", "--parallel", "2", "--drain", drain.String())
	// Two short tasks take the workers; two long ones wait behind them
	// and start during the drain; one more waits behind those, and never
	// starts.
	short := stepsTask(nil, "/bin/sh", "-c", "sleep 0.5; echo finished")
	long := stepsTask(nil, "/bin/sleep", "30")
	var shortIDs, longIDs []string
	for range 2 {
		shortIDs = append(shortIDs, s.submit(t, short))
	}
	for range 3 {
		longIDs = append(longIDs, s.submit(t, long))
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		r, q := s.metric(t, "jail_running"), s.metric(t, "jail_queue_length")
		// On a slow machine a short task may be over already.
		return r == 2 && q >= 2, fmt.Sprintf("%v running, %v queued", r, q)
	})
	require.NoError(t, s.run.Cmd.Process.Signal(syscall.SIGTERM))
	// New tasks are refused from now on, with 503 while the server
	// drains, or at the door once it has closed. One posted before the
	// signal took effect is accepted, and has its line like any.
	accepted := 0
	eventually(t, 10*time.Second, func() (bool, string) {
		code, b, err := s.doErr(context.Background(), s.client, http.MethodPost, "/v1/runs", short)
		if err != nil {
			return true, ""
		}
		if code == http.StatusAccepted {
			accepted++
		}
		return code == http.StatusServiceUnavailable, fmt.Sprintf("POST during the drain: %d %s", code, b)
	})
	for range 3 {
		code, b, err := s.doErr(context.Background(), s.client, http.MethodPost, "/v1/runs?wait=1s", short)
		if err == nil {
			assert.Equal(t, http.StatusServiceUnavailable, code, "%s", b)
			var e struct{ Error apiErr }
			require.NoError(t, json.Unmarshal(b, &e), "%s", b)
			assert.Equal(t, "draining", e.Error.Code)
		}
	}
	lines := s.stopped(t, drain)
	byID := map[string]taskLine{}
	for _, l := range lines {
		byID[l.ID] = l
		t.Logf("%s: %s %s %s", l.ID, l.State, l.Verdict, l.Error)
	}
	assert.Len(t, lines, 5+accepted, "one line per accepted task, none for the refused ones")
	for _, id := range shortIDs {
		assert.Equal(t, "done", byID[id].State, "a short task finishes during the drain: %+v", byID[id])
		assert.Equal(t, "OK", byID[id].Verdict, "%+v", byID[id])
	}
	for _, id := range longIDs {
		l, ok := byID[id]
		assert.True(t, ok, "every accepted task is accounted for: %s", id)
		assert.Equal(t, "cancelled", l.State, "a 30s task cannot finish in a 2s drain: %+v", l)
	}
}

// loadTasks is how many tasks TestServeLoad runs: JAIL_LOAD_TASKS, or
// 1,000. On a quiet 2-core VM 1,000 took 10 s (about 100 tasks/s with
// --parallel 2, so 10,000 would take 100 s); on a busy one (load average
// 15) the 10,000 took 8 minutes, too long for every `go test`.
// .ci/run runs the full count in a step of its own.
func loadTasks(t *testing.T) int {
	t.Helper()
	v := os.Getenv("JAIL_LOAD_TASKS")
	if v == "" {
		return 1000
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "JAIL_LOAD_TASKS=%q", v)
	require.Positive(t, n, "JAIL_LOAD_TASKS")
	return n
}

// TestServeLoad runs many /bin/true tasks from two clients at once:
// every one must come back OK, and the server must end with the
// descriptors it started with, no process but itself and an empty
// TMPDIR.
func TestServeLoad(t *testing.T) {
	n := loadTasks(t)
	s := serve(t, "unix", "--parallel", "2")
	task := stepsTask(nil, "/bin/true")
	// A first task opens what the server keeps open (the runner's
	// probes), so the count after is compared with a warm server.
	assert.Equal(t, "OK", s.judgeTask(t, task).Result.Verdict)
	s.client.CloseIdleConnections()
	s.requireClean(t, "after the first task")
	fdsBefore := s.fdCount(t)

	clients := []*http.Client{s.newClient(), s.newClient()}
	elapsed := s.load(t, clients, n, func(i int, code int, b []byte) error {
		var v view
		if code != http.StatusOK || json.Unmarshal(b, &v) != nil || v.Result == nil || v.Result.Verdict != "OK" {
			return fmt.Errorf("%d %.300s", code, b)
		}
		return nil
	}, func(int) m { return task })
	t.Logf("%d /bin/true tasks from %d clients in %v: %.0f tasks/s", n, len(clients), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	s.requireClean(t, "after the load")
	// The clients' connections are closed, but the server may not have
	// seen it yet.
	eventually(t, 10*time.Second, func() (bool, string) {
		fds := s.fdCount(t)
		return fds <= fdsBefore+4, fmt.Sprintf("%d descriptors open after the load, %d before", fds, fdsBefore)
	})
	lines := s.stop(t, 30*time.Second)
	assert.Len(t, lines, n+1)
}

// load sends tasks 0 to n-1 (task(i)), split between the clients, each
// client one at a time, and checks every answer with check; it fails the
// test with the first failures, and returns how long it took.
func (s *served) load(t *testing.T, clients []*http.Client, n int, check func(i, code int, body []byte) error, task func(i int) m) time.Duration {
	t.Helper()
	var mu sync.Mutex
	var failures []string
	failed := 0
	fail := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf("task %d: %v", i, err))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c, client := range clients {
		wg.Go(func() {
			for i := c; i < n; i += len(clients) {
				code, b, err := s.doErr(context.Background(), client, http.MethodPost, "/v1/runs?wait=60s", task(i))
				if err == nil {
					err = check(i, code, b)
				}
				if err != nil {
					fail(i, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	assert.Zero(t, failed, "%d of %d tasks failed, the first of them: %v", failed, n, failures)
	return elapsed
}

// TestServeHostilePrograms runs a bounded fork bomb, a memory hog, an
// output flood, a sleeper, a program that ignores SIGTERM, one that
// leaves a daemon and one that kills every process it can, each with
// small limits, together with benign tasks: the benign ones finish OK
// with the right output, the hostile ones get the verdict this host can
// give, the server stays up, and no process of any of them is left. It
// does so with cold sandboxes and again with warm ones from pools, where
// a task that comes after them looks for what they left.
//
// What this host can give: without a delegated cgroup (cgroup v1, an
// ordinary user) neither mem nor pids is enforced, and the results say
// so in their warnings. A real fork bomb could then not be contained, so
// the bomb is bounded: a shell that starts 200 sleepers, 50 over pids;
// the wall limit ends it, and every sleeper must die with the sandbox.
func TestServeHostilePrograms(t *testing.T) {
	needProfile(t, "python3")
	t.Run("cold", func(t *testing.T) { testServeHostile(t, serve(t, "unix", "--parallel", "4")) })
	for mode, pools := range map[string]string{"pooled": "default=3,python3=2", "reused": "default=3:reuse,python3=2:reuse"} {
		t.Run(mode, func(t *testing.T) {
			s := serve(t, "unix", "--parallel", "4", "--pool", pools)
			s.pooled = true
			s.awaitReady(t)
			testServeHostile(t, s)
		})
	}
}

func testServeHostile(t *testing.T, s *served) {
	// Small limits, and walls long enough for a busy machine to start
	// what the programs start.
	small := func(wall string) m { return m{"wall": wall, "pids": 150, "mem": "64M", "output": "64K"} }
	type hostile struct {
		name string
		task m
	}
	hostiles := []hostile{
		{"bomb", stepsTask(small("5s"), "/bin/sh", "-c", `i=0; while [ $i -lt 200 ]; do sleep 60 & i=$((i+1)); done; echo started; wait`)},
		// 300M in 1M steps, then it says it survived: far over mem,
		// bounded so an unenforced limit does not hurt the host.
		{"hog", stepsTask(small("20s"), "/usr/bin/python3", "-c", "b=[]\nfor i in range(300): b.append(bytearray(1<<20))\nprint('survived')")},
		{"flood", stepsTask(small("20s"), "/usr/bin/yes")},
		{"sleeper", stepsTask(small("2s"), "/bin/sleep", "60")},
		{"ignorer", stepsTask(small("1s"), "/bin/sh", "-c", `trap '' TERM HUP INT; sleep 60; sleep 60`)},
		{"daemon", stepsTask(small("5s"), "/bin/sh", "-c", `setsid sh -c 'touch /tmp/daemon; sleep 60' </dev/null >/dev/null 2>&1 & echo left`)},
		{"killer", stepsTask(small("5s"), "/bin/sh", "-c", `kill -KILL -1; echo alive`)},
	}
	type outcome struct {
		v   view
		err error
	}
	var wg sync.WaitGroup
	run := func(task m) *outcome {
		o := &outcome{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, b, err := s.doErr(context.Background(), s.newClient(), http.MethodPost, "/v1/runs?wait=60s", task)
			switch {
			case err != nil:
				o.err = err
			case code != http.StatusOK:
				o.err = fmt.Errorf("status %d: %s", code, b)
			default:
				o.err = json.Unmarshal(b, &o.v)
			}
		}()
		return o
	}
	var hostileOut []*outcome
	for _, h := range hostiles {
		hostileOut = append(hostileOut, run(h.task))
	}
	var benign []*outcome
	for i := range 6 {
		benign = append(benign, run(pyTask(helloPy, m{"stdin": text(strconv.Itoa(i))})))
	}
	wg.Wait()

	for i, o := range benign {
		require.NoError(t, o.err, "benign %d", i)
		require.NotNil(t, o.v.Result, "benign %d", i)
		assert.Equal(t, "OK", o.v.Result.Verdict, "benign %d: %+v", i, o.v.Result.Run)
		require.NotNil(t, o.v.Result.Run)
		assert.Equal(t, "hello, "+strconv.Itoa(i), o.v.Result.Run.Output.Text, "benign %d", i)
	}
	got := map[string]*serveResult{}
	for i, o := range hostileOut {
		h := hostiles[i]
		require.NoError(t, o.err, h.name)
		require.NotNil(t, o.v.Result, h.name)
		require.NotNil(t, o.v.Result.Run, h.name)
		got[h.name] = o.v.Result
		t.Logf("%s: %s (limit %q, backend %q)", h.name, o.v.Result.Verdict, o.v.Result.Run.LimitHit, o.v.Result.Run.LimitBackend)
	}
	enforced := func(r *serveResult, limit string) bool {
		for _, w := range r.Run.Warnings {
			if strings.HasPrefix(w, "limits."+limit+" is NOT enforced") {
				return false
			}
		}
		return r.Run.LimitBackend != "" && r.Run.LimitBackend != "none"
	}
	// The bomb: the wall ends it where pids are not enforced; where they
	// are, the shell's forks fail past the limit, and it ends either way.
	bomb := got["bomb"]
	assert.NotEqual(t, "OK", bomb.Verdict)
	if !enforced(bomb, "pids") {
		assert.Equal(t, "TLE", bomb.Verdict)
		assert.Equal(t, "wall", bomb.Run.LimitHit)
		assert.Equal(t, "started\n", bomb.Run.Output.Text, "all 200 sleepers were started")
	}
	hog := got["hog"]
	if enforced(hog, "mem") {
		assert.Equal(t, "MLE", hog.Verdict)
		assert.NotContains(t, hog.Run.Output.Text, "survived")
	} else {
		assert.Equal(t, "OK", hog.Verdict, "mem is not enforced here, as the warnings say: %v", hog.Run.Warnings)
		assert.Equal(t, "survived\n", hog.Run.Output.Text)
	}
	assert.Equal(t, "OLE", got["flood"].Verdict)
	assert.Equal(t, "output", got["flood"].Run.LimitHit)
	assert.Equal(t, "TLE", got["sleeper"].Verdict)
	assert.Equal(t, "wall", got["sleeper"].Run.LimitHit)
	assert.Equal(t, "TLE", got["ignorer"].Verdict)
	assert.Equal(t, "wall", got["ignorer"].Run.LimitHit)
	assert.Equal(t, "OK", got["daemon"].Verdict)
	assert.Equal(t, "left\n", got["daemon"].Run.Output.Text)
	assert.Equal(t, "OK", got["killer"].Verdict, "kill -1 reaches only the sandbox's own processes")
	assert.Equal(t, "alive\n", got["killer"].Run.Output.Text)

	// A task after them finds nothing of theirs: no file in /tmp or
	// /dev/shm, no process but the namespace's reaper and its own shell,
	// which lists them with builtins only.
	look := s.judgeTask(t, stepsTask(nil, "/bin/sh", "-c", lookerScript))
	assert.Equal(t, "OK", look.Result.Verdict)
	assert.Equal(t, lookerSees, look.Result.Run.Output.Text)
	if s.pooled {
		require.NotNil(t, look.Result.Run.PoolHit)
		assert.True(t, *look.Result.Run.PoolHit, "the looker ran in a warm sandbox")
		for _, pool := range []string{"default", "python3"} {
			assert.Positive(t, s.metric(t, `jail_pool_hits_total{pool="`+pool+`"}`), "tasks took warm sandboxes of %s", pool)
			assert.Zero(t, s.metric(t, `jail_pool_failures_total{pool="`+pool+`"}`), pool)
		}
	}

	// The server is still up and serving.
	v := s.judgeTask(t, pyTask(helloPy, m{"stdin": text("again")}))
	assert.Equal(t, "hello, again", v.Result.Run.Output.Text)
	s.requireClean(t, "after the hostile tasks")
	s.stop(t, 30*time.Second)
}

// TestServePooledLoad is the pools under load: many tasks from two
// clients through a server whose raw-steps tasks take warm sandboxes,
// most of them /bin/true, every tenth a looker that checks it sees
// nothing of the tasks before it, and every hundredth a hostile one (a
// bounded fork bomb, a daemon, a program that ignores SIGTERM, an output
// flood, one that kills what it can). Every task must get its verdict,
// and at the end the server has nothing but its warm sandboxes, the
// descriptors it started with, and a bounded resident size.
func TestServePooledLoad(t *testing.T) {
	t.Run("single-use", func(t *testing.T) { testServePooledLoad(t, "default=4") })
	t.Run("reuse", func(t *testing.T) { testServePooledLoad(t, "default=4:reuse") })
}

// lookerScript lists what a task finds in /tmp and /dev/shm and the
// processes of its pid namespace, with builtins only but ls and tr, which
// have ended by then; lookerSees is what it must find: nothing and, but
// for the namespace's reaper, only itself.
const (
	lookerScript = `ls -A /tmp /dev/shm | tr -d '\n'; echo; for p in /proc/[0-9]*; do read -r c < $p/comm && echo "$c"; done`
	lookerSees   = "/dev/shm:/tmp:\njail-init\nsh\n"
)

func testServePooledLoad(t *testing.T, pools string) {
	n := loadTasks(t)
	// Results are kept for a second: what stays is what the server holds
	// of its own, not the results it keeps by design (--keep).
	s := serve(t, "unix", "--parallel", "2", "--pool", pools, "--keep", "1s")
	s.pooled = true
	s.awaitReady(t)
	small := m{"wall": "500ms", "pids": 100, "mem": "64M", "output": "16K"}
	type class struct {
		task    m
		verdict string
		output  string
	}
	benign := class{stepsTask(nil, "/bin/true"), "OK", ""}
	looker := class{stepsTask(nil, "/bin/sh", "-c", lookerScript), "OK", lookerSees}
	hostiles := []class{
		{stepsTask(small, "/bin/sh", "-c", `i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done; touch /tmp/bomb /dev/shm/bomb; wait`), "TLE", ""},
		{stepsTask(small, "/bin/sh", "-c", `setsid sh -c 'sleep 60' </dev/null >/dev/null 2>&1 & touch /tmp/daemon; echo left`), "OK", "left\n"},
		{stepsTask(small, "/bin/sh", "-c", `trap '' TERM HUP INT; touch /tmp/ignorer; sleep 60; sleep 60`), "TLE", ""},
		{stepsTask(small, "/usr/bin/yes"), "OLE", ""},
		{stepsTask(small, "/bin/sh", "-c", `kill -KILL -1; echo alive`), "OK", "alive\n"},
	}
	classOf := func(i int) class {
		switch {
		case i%100 == 50:
			return hostiles[(i/100)%len(hostiles)]
		case i%10 == 5:
			return looker
		}
		return benign
	}
	// The first tasks open what the server keeps open; the count after is
	// compared with a warm server's.
	assert.Equal(t, "OK", s.judgeTask(t, benign.task).Result.Verdict)
	s.client.CloseIdleConnections()
	s.requireClean(t, "after the first task")
	fdsBefore := s.fdCount(t)

	clients := []*http.Client{s.newClient(), s.newClient()}
	elapsed := s.load(t, clients, n, func(i int, code int, b []byte) error {
		want := classOf(i)
		var v view
		switch {
		case code != http.StatusOK || json.Unmarshal(b, &v) != nil || v.Result == nil || v.Result.Run == nil:
			return fmt.Errorf("%d %.300s", code, b)
		case v.Result.Verdict != want.verdict || want.verdict != "OLE" && v.Result.Run.Output.Text != want.output:
			return fmt.Errorf("verdict %s output %q, want %s %q", v.Result.Verdict, v.Result.Run.Output.Text, want.verdict, want.output)
		}
		return nil
	}, func(i int) m { return classOf(i).task })
	hits, misses := s.metric(t, `jail_pool_hits_total{pool="default"}`), s.metric(t, `jail_pool_misses_total{pool="default"}`)
	t.Logf("%d tasks from %d clients in %v: %.0f tasks/s; %v pool hits, %v misses", n, len(clients), elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds(), hits, misses)
	assert.Positive(t, hits)
	assert.Zero(t, s.metric(t, `jail_pool_failures_total{pool="default"}`))
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	s.awaitReady(t)
	s.requireClean(t, "after the load")
	eventually(t, 10*time.Second, func() (bool, string) {
		fds := s.fdCount(t)
		return fds <= fdsBefore+4, fmt.Sprintf("%d descriptors open after the load, %d before", fds, fdsBefore)
	})
	// Past --keep every result is dropped; the Go heap then holds what
	// the server keeps of its own, and the resident size what the
	// runtime has not given back yet.
	var heap float64
	eventually(t, 30*time.Second, func() (bool, string) {
		heap = s.metric(t, "go_memstats_heap_inuse_bytes")
		return heap < 32<<20, fmt.Sprintf("%.1f MiB of Go heap in use after %d tasks and their results' expiry", heap/(1<<20), n)
	})
	t.Logf("after %d tasks and their results' expiry: %.1f MiB of Go heap in use, %d KiB resident", n, heap/(1<<20), residentKiB(t, s.pid))
	lines := s.stop(t, 30*time.Second)
	assert.Len(t, lines, n+1)
	s.requireClean(t, "after the server stopped")
}

// residentKiB is a process's VmRSS.
func residentKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err, line)
			return kib
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestWarmInitVariable: JAIL_WARM_INIT makes the binary a warm init only
// for jail itself, which passes the init its socket; set by anyone else,
// jail says so and exits 125 rather than wait as an init for nothing.
func TestWarmInitVariable(t *testing.T) {
	j := testutil.New(t)
	for _, v := range []string{"1", "yes"} {
		r := j.RunWith(t, testutil.Opts{Env: []string{"JAIL_WARM_INIT=" + v}}, "version")
		assert.Equal(t, 125, r.ExitCode, "JAIL_WARM_INIT=%s: %s", v, r)
		assert.Contains(t, r.Stderr, "JAIL_WARM_INIT is set; it is jail's own", v)
	}
}

// TestRootServeUnreachableTMPDIR: root's jail serve whose TMPDIR its
// sandboxes' uid cannot reach (below a user's 0700 home) makes no warm
// sandbox, and /readyz says which pool, why and what to do, not only
// "warming".
func TestRootServeUnreachableTMPDIR(t *testing.T) {
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "a test of jail serve started by root")
	j := testutil.New(t)
	closed := j.FixtureDir(t, "closed")
	j.Chown(t, closed)
	tmp := filepath.Join(closed, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o755))
	require.NoError(t, os.Chmod(closed, 0o700))
	sock := filepath.Join(j.Dir, "root.sock")
	run := j.Start(t, testutil.Opts{AsCaller: true, Env: []string{"TMPDIR=" + tmp}},
		"serve", "--limits=cgroup", "--listen", "unix:"+sock, "--pool", "default=1")
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = run.Cmd.Process.Kill()
			_, _ = run.WaitErr()
		}
	})
	client := (&served{sock: sock}).newClient()
	var status struct{ Status, Detail string }
	eventually(t, 30*time.Second, func() (bool, string) {
		resp, err := client.Get("http://jail/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status.Status, status.Detail = "", ""
		_ = json.Unmarshal(b, &status)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(status.Detail, "last making failed"),
			fmt.Sprintf("/readyz: %d %s", resp.StatusCode, b)
	})
	assert.Equal(t, "warming", status.Status)
	assert.Contains(t, status.Detail, "pool default: 0 of 1 sandboxes ready")
	assert.Contains(t, status.Detail, "host uid 65534, which may not search "+closed)
	assert.Contains(t, status.Detail, "chmod o+x "+closed)

	// The failed makings leave nothing in TMPDIR once the server stops.
	require.NoError(t, run.Cmd.Process.Signal(syscall.SIGTERM))
	stopped = true
	_, _ = run.WaitErr()
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "what the failed makings left in TMPDIR")
}

// TestRootReusedInitKeepsItsDescriptors: a task of a reused sandbox
// brings its cgroup.procs files to fixed descriptor numbers in the init;
// the init's own descriptors (its SIGCHLD signalfd, the sandbox's /proc)
// must not be among those numbers. When its signalfd was, each task's
// first cgroup file replaced it, and the init spun on a closed
// descriptor for as long as the task ran.
func TestRootReusedInitKeepsItsDescriptors(t *testing.T) {
	s, srv := serveAsRoot(t, "--pool", "default=1:reuse")
	limited := m{"mem": "64M", "pids": 32}
	v := s.judgeTask(t, stepsTask(limited, "/bin/true"))
	require.Equal(t, "OK", v.Result.Verdict, "%+v", v.Result)
	require.Contains(t, v.Result.Run.LimitBackend, "cgroup", "%+v", v.Result.Run)
	s.awaitReady(t)
	id := s.submit(t, stepsTask(limited, "/bin/sleep", "3"))

	_, init := sleepingProg(t, srv.Cmd.Process.Pid)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", init))
	require.NoError(t, err)
	var held []string
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", init, e.Name()))
		held = append(held, e.Name()+" -> "+target)
	}
	assert.True(t, slices.ContainsFunc(held, func(h string) bool { return strings.HasSuffix(h, "anon_inode:[signalfd]") }),
		"the init lost its signalfd to the task's descriptors: %v", held)
	assert.True(t, slices.ContainsFunc(held, func(h string) bool { return strings.HasSuffix(h, " -> /proc") }),
		"the init lost the sandbox's /proc to the task's descriptors: %v", held)
	v = s.awaitState(t, id, "done")
	assert.Equal(t, "OK", v.Result.Verdict, "%+v", v.Result)
}

// serveAsRoot starts `jail serve --limits=cgroup` as root, the tests'
// own user, whose tasks have cgroups, on a unix socket, with args, and
// waits until it is ready; it is stopped with the test.
func serveAsRoot(t *testing.T, args ...string) (*served, *testutil.Running) {
	t.Helper()
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "a test of jail serve started by root, whose tasks have cgroups")
	j := testutil.New(t)
	sock := filepath.Join(j.Dir, "root.sock")
	srv := j.Start(t, testutil.Opts{AsCaller: true, Env: []string{"TMPDIR=" + j.Dir}},
		append([]string{"serve", "--limits=cgroup", "--listen", "unix:" + sock}, args...)...)
	t.Cleanup(func() {
		_ = srv.Cmd.Process.Signal(syscall.SIGTERM)
		_, _ = srv.WaitErr()
	})
	s := &served{sock: sock, base: "http://jail"}
	s.client = s.newClient()
	eventually(t, 30*time.Second, func() (bool, string) {
		resp, err := s.client.Get(s.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return s, srv
}

// sleepingProg waits for a sleep that a sandbox of the server server runs
// as PROG, and returns its pid and its parent's, the sandbox's init.
func sleepingProg(t *testing.T, server int) (sleep, init int) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if comm, ppid, ok := testutil.ProcStat(pid); ok && comm == "sleep" {
				if _, grand, ok := testutil.ProcStat(ppid); ok && grand == server {
					sleep, init = pid, ppid
					return true, ""
				}
			}
		}
		return false, "no sleep of the server's sandboxes is running"
	})
	return sleep, init
}
