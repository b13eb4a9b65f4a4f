package bench

// BenchmarkServe: what a task costs through `jail serve` over loopback
// HTTP, against the same work done by a jail process per task (`jail run`,
// or `jail judge` for the C++ task).
//
// The benchmark starts the real `jail serve --listen 127.0.0.1:PORT
// --parallel 2` (as the unprivileged test user when run as root, like
// every jail here) and sends POST /v1/runs?wait=60s over a kept-alive
// connection, one per client. The workloads (the sub-benchmarks):
//
//	true          raw steps {"argv": ["/bin/true"]}
//	hello-static  raw steps running a statically linked hello: busybox's
//	              echo when /usr/bin/busybox is static (as on Debian),
//	              else /bin/echo hello (dynamic; the sub-benchmark is then
//	              named "echo"). A task's files cannot be the program:
//	              they land in the work directory without the exec bit,
//	              and a raw-steps task cannot bind a host path.
//	python3       raw steps {"argv": ["python3", "-c", "pass"]}
//	cpp           the cpp profile with main.cpp (judgeSource: read two
//	              numbers, print the sum) and 10 tests: one compile, ten
//	              runs, each checked
//
// Run as root (as in CI), two more servers run as root with
// --limits=cgroup and the default pool, single-use and reused, for the
// true workload only: its step with --mem --pids --cpu (rootLimits), each
// answer checked to say the cgroup backend held all three. They are what
// the limits add to a pooled task.
//
// Side by side, the same work through one jail process per task, timed
// from exec.Cmd.Start to the reaped exit:
//
//	raw steps     jail run STEPSMAX -- ARGV, where STEPSMAX are the limits
//	              the server gives a raw-steps task that sets none
//	              (server.DefaultStepsMax), so both enforce the same ones
//	cpp           jail judge --profile cpp sol.cpp --tests DIR --json
//
// A request is timed from the client's send to the last byte of the
// response, which holds the whole result; the benchmark then checks it
// (state done, verdict OK, the hello's output, 10 of 10 tests passed).
// Measured, per workload:
//
//  1. one client: serveRounds[w] rounds, each one request and one jail
//     process, the order alternating, so that drift in the machine's load
//     hits both alike. Medians and p95 of each. "server's time" is the
//     median of the task's own time as the response gives it (from a
//     worker taking the task to its end); "HTTP + queue" the median of
//     the latency minus that, per request: the HTTP round trip, decoding
//     the task, writing its files, the queue and encoding the result.
//  2. two clients: blocks of two goroutines sending perClient requests
//     each at once, alternating with blocks of two goroutines running the
//     same number of jail processes at once. Throughput is tasks over the
//     wall time of the blocks of that kind; the median is of every task's
//     latency in them. With --parallel 2 on 2 CPUs neither client waits
//     for a worker, so this is the service at its width.
//
// The parent prints one markdown table. Bounded: with -benchtime 1x (the
// Makefile's), per side 400 tasks of /bin/true and of the hello, 196 of
// python3 and 13 C++ tasks; about a minute on 2 quiet vCPUs, three under
// heavy load. -benchtime Nx repeats it all N times.

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"jail/internal/testutil"
	"jail/limits"
	"jail/server"
)

// serveWork is one workload: its request body, the jail command doing the
// same work, and how to check each side's answer.
type serveWork struct {
	name string
	body []byte
	argv []string // the jail process per task, after the binary
	// wantOutput is the run's stdout, for raw steps; tests is the test
	// count the C++ task must pass.
	wantOutput string
	tests      int
	// steps is the raw step's command, for fork+exec of it alone.
	steps []string
	// rounds of the one-client phase; blocks × 2 clients × perClient
	// tasks in the two-client phase, per side.
	rounds, blocks, perClient int
	// limited is the raw step with rootLimits, for the servers that
	// enforce them by cgroups (as root); nil for workloads those do not
	// run.
	limited []byte
}

// rootLimits are what the servers run as root enforce through the cgroup
// backend: the issue's --mem --pids --cpu, beside the raw steps' own.
var rootLimits = map[string]any{"mem": "256M", "pids": 64, "cpu": "100%"}

// stepsMaxFlags are server.DefaultStepsMax as `jail run` flags.
func stepsMaxFlags() []string {
	var flags []string
	for _, f := range limits.Fields {
		if f.IsSet(server.DefaultStepsMax) {
			flags = append(flags, "--"+f.Flag, f.Format(server.DefaultStepsMax))
		}
	}
	return flags
}

func stepsWork(name string, argv []string, want string, rounds, blocks, perClient int) serveWork {
	body, err := json.Marshal(map[string]any{"steps": []map[string]any{{"argv": argv}}})
	if err != nil {
		panic(err)
	}
	run := append(append([]string{"run"}, stepsMaxFlags()...), "--")
	return serveWork{name: name, body: body, argv: append(run, argv...), wantOutput: want, steps: argv,
		rounds: rounds, blocks: blocks, perClient: perClient}
}

// withRootLimits gives a raw-steps workload its body with rootLimits.
func withRootLimits(w serveWork) serveWork {
	var err error
	if w.limited, err = json.Marshal(map[string]any{"steps": []map[string]any{{"argv": w.steps, "limits": rootLimits}}}); err != nil {
		panic(err)
	}
	return w
}

// isStatic reports whether the ELF file at path has no program
// interpreter.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func serveWorks(b *testing.B, e *env) []serveWork {
	ws := []serveWork{withRootLimits(stepsWork("true", []string{"/bin/true"}, "", 200, 4, 25))}
	if isStatic("/usr/bin/busybox") {
		ws = append(ws, stepsWork("hello-static", []string{"/usr/bin/busybox", "echo", "hello"}, "hello\n", 200, 4, 25))
	} else {
		b.Log("no static /usr/bin/busybox (apt-get install busybox-static); the hello is /bin/echo, dynamic")
		ws = append(ws, stepsWork("echo", []string{"/bin/echo", "hello"}, "hello\n", 200, 4, 25))
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		ws = append(ws, stepsWork("python3", []string{"python3", "-c", "pass"}, "", 100, 4, 12))
	} else {
		b.Log("no /usr/bin/python3; skipping python3 -c pass (apt-get install python3)")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		b.Log("no g++; skipping the C++ task (apt-get install g++)")
		return ws
	}
	t := newJudgeTask(b, e, 10)
	var tests []map[string]any
	for _, name := range t.names {
		in, err := os.ReadFile(filepath.Join(t.tests, name+".in"))
		if err != nil {
			b.Fatal(err)
		}
		tests = append(tests, map[string]any{"stdin": map[string]string{"text": string(in)},
			"expect": map[string]string{"text": t.answer(b, name)}})
	}
	body, err := json.Marshal(map[string]any{"profile": "cpp",
		"files": []map[string]string{{"name": "main.cpp", "text": judgeSource}}, "tests": tests})
	if err != nil {
		b.Fatal(err)
	}
	return append(ws, serveWork{name: "cpp-10-tests", body: body,
		argv:  []string{"judge", "--profile", "cpp", t.src, "--tests", t.tests, "--json"},
		tests: len(t.names), rounds: 5, blocks: 2, perClient: 2})
}

// served is a running `jail serve`.
type served struct {
	// limited: the server holds limits by cgroups; its tasks are the
	// workloads' limited bodies.
	limited bool
	url     string
	run     *testutil.Running
	done    chan error
	client  *http.Client
}

// startServe starts `jail serve` on a free loopback port and waits until
// it answers /healthz: as the test user with --limits=host, or as root
// (the caller, who must be root) with --limits=cgroup.
func startServe(b *testing.B, e *env, root bool, extra ...string) *served {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &served{limited: root, url: "http://" + addr, done: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	mode, tmp := "--limits=host", e.tmp
	if root {
		// Root's sandboxes run as an unprivileged host uid, which must
		// be able to reach the task directories: not in the test
		// user's directory.
		mode = "--limits=cgroup"
		var err error
		if tmp, err = os.MkdirTemp("/dev/shm", "jail-bench-root-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(tmp) })
		if err := os.Chmod(tmp, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	s.run = e.jail.Start(b, testutil.Opts{Env: []string{"TMPDIR=" + tmp}, AsCaller: root}, append([]string{"serve", mode, "--listen", addr, "--parallel", "2"}, extra...)...)
	var stderr string
	go func() {
		res, err := s.run.WaitErr()
		stderr = res.Stderr
		s.done <- err
	}()
	b.Cleanup(func() { s.stop(b) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			b.Fatalf("jail serve --listen %s exited before serving: %v", addr, err)
		default:
		}
		// /readyz: a server with pools is ready once they are full.
		resp, err := s.client.Get(s.url + "/readyz")
		var why []byte
		if err == nil {
			why, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			_ = s.run.Cmd.Process.Kill()
			s.done <- <-s.done
			b.Fatalf("jail serve --listen %s is not ready after 10 s: %v %s\nits log: %.3000s", addr, err, why, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM, as an operator would.
func (s *served) stop(b *testing.B) {
	s.client.CloseIdleConnections()
	_ = s.run.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		_ = s.run.Cmd.Process.Kill()
		<-s.done
		b.Errorf("jail serve did not stop within 40 s of SIGTERM")
	}
}

// post sends one task and waits for its result; it returns the latency
// and the task's own time as the server measured it.
func (s *served) post(w serveWork) (lat, task time.Duration, err error) {
	body := w.body
	if s.limited {
		body = w.limited
	}
	start := time.Now()
	resp, err := s.client.Post(s.url+"/v1/runs?wait=60s", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat = time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("POST /v1/runs: %s: %s", resp.Status, answer)
	}
	var v struct {
		State  string  `json:"state"`
		Time   float64 `json:"time"`
		Result struct {
			Verdict string `json:"verdict"`
			Passed  int    `json:"passed"`
			Total   int    `json:"total"`
			Run     struct {
				Output struct {
					Text string `json:"text"`
				} `json:"output"`
				LimitBackend string `json:"limit_backend"`
				Limits       []struct {
					Name      string `json:"name"`
					Mechanism string `json:"mechanism"`
				} `json:"limits"`
			} `json:"run"`
		} `json:"result"`
	}
	if err := json.Unmarshal(answer, &v); err != nil {
		return 0, 0, fmt.Errorf("POST /v1/runs: %v: %s", err, answer)
	}
	held := map[string]bool{}
	for _, l := range v.Result.Run.Limits {
		held[l.Name] = strings.HasPrefix(l.Mechanism, v.Result.Run.LimitBackend+" ")
	}
	switch {
	case v.State != "done" || v.Result.Verdict != "OK":
		err = fmt.Errorf("state %s, verdict %s", v.State, v.Result.Verdict)
	case w.tests > 0 && (v.Result.Passed != w.tests || v.Result.Total != w.tests):
		err = fmt.Errorf("%d of %d tests passed, want %d", v.Result.Passed, v.Result.Total, w.tests)
	case w.tests == 0 && v.Result.Run.Output.Text != w.wantOutput:
		err = fmt.Errorf("output %q, want %q", v.Result.Run.Output.Text, w.wantOutput)
	case s.limited && !(strings.HasPrefix(v.Result.Run.LimitBackend, "cgroup") && held["mem"] && held["pids"] && held["cpu"]):
		err = fmt.Errorf("limits not all held by the cgroup backend (%q)", v.Result.Run.LimitBackend)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("POST /v1/runs %s: %w: %s", body[:min(len(body), 80)], err, answer)
	}
	return lat, time.Duration(v.Time * float64(time.Second)), nil
}

// process does the work with one jail process and checks its output.
func (e *env) process(w serveWork) (time.Duration, error) {
	argv := append([]string{e.jail.Bin}, w.argv...)
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path: argv[0], Args: argv,
		Env: []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TMPDIR=" + e.tmp}, Dir: e.jail.Dir,
		Stdout: &stdout, Stderr: &stderr,
		SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred},
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%q: %v\nstdout: %s\nstderr: %s", argv, err, stdout.Bytes(), stderr.Bytes())
	}
	if w.tests > 0 {
		var res struct {
			Verdict string            `json:"verdict"`
			Tests   []json.RawMessage `json:"tests"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Verdict != "OK" || len(res.Tests) != w.tests {
			return 0, fmt.Errorf("%q: verdict %q with %d tests (%v), want OK with %d", argv, res.Verdict, len(res.Tests), err, w.tests)
		}
	} else if stdout.String() != w.wantOutput {
		return 0, fmt.Errorf("%q printed %q, want %q", argv, stdout.Bytes(), w.wantOutput)
	}
	return d, nil
}

// concurrently runs do in clients goroutines, n times each, and returns
// the wall time and every call's latency.
func concurrently(clients, n int, do func() (time.Duration, error)) (time.Duration, []time.Duration, error) {
	var mu sync.Mutex
	var lats []time.Duration
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for range n {
				d, err := do()
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				lats = append(lats, d)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), lats, first
}

// inSandboxPath is argv with its program found as the sandbox's PATH
// (/usr/bin:/bin) finds it, not the caller's, for fork+exec of it alone.
func inSandboxPath(argv []string) []string {
	if strings.Contains(argv[0], "/") {
		return argv
	}
	for _, dir := range []string{"/usr/bin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(dir, argv[0])); err == nil && fi.Mode().IsRegular() {
			return append([]string{filepath.Join(dir, argv[0])}, argv[1:]...)
		}
	}
	return argv
}

// side is one way of doing a workload's tasks: a server (or a jail
// process per task) and the tasks' times as measured there.
type side struct {
	name, metric string
	// do does one task: its latency and, for a server, the task's own
	// time as the server measured it.
	do func() (lat, task time.Duration, err error)
	// lat, task: one client; lat2 and wall2: two clients at once.
	lat, task, lat2 []time.Duration
	wall2           time.Duration
	server          bool
}

func (d *side) median() float64 { return ms(median(d.lat)) }

// gap is the median, per request, of the latency less the server's time:
// HTTP, the queue, decoding the task and encoding its result.
func (d *side) gap() float64 {
	gaps := make([]time.Duration, len(d.lat))
	for i := range d.lat {
		gaps[i] = d.lat[i] - d.task[i]
	}
	return ms(median(gaps))
}
func (d *side) rate2() float64 { return float64(len(d.lat2)) / d.wall2.Seconds() }

func BenchmarkServe(b *testing.B) {
	e := newEnv(b)
	// The servers' and the processes' work directories are on a tmpfs,
	// as a service's should be: on this machine's ext4 a directory costs
	// about 0.65 ms to make and remove, and a task makes two or three.
	tmp, err := os.MkdirTemp("/dev/shm", "jail-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(tmp) })
	e.jail.Chown(b, tmp)
	e.tmp = tmp
	works := serveWorks(b, e)
	type server struct {
		name, metric string
		s            *served
	}
	servers := []server{
		{"jail serve", "serve", startServe(b, e, false)},
		// With a pool for each workload's profile: raw steps take the
		// default profile's sandboxes.
		{"jail serve --pool", "pool", startServe(b, e, false, "--pool", "default=4,cpp=4")},
		// And with pools whose sandboxes serve task after task.
		{"jail serve --pool :reuse", "reuse", startServe(b, e, false, "--pool", "default=4:reuse,cpp=4:reuse")},
	}
	// As root, the same pools holding --mem --pids --cpu by cgroups, for
	// the workloads that have a limited body: what the limits add.
	if os.Getuid() == 0 {
		servers = append(servers,
			server{"jail serve --pool, root, cgroup limits", "pool-root", startServe(b, e, true, "--pool", "default=4")},
			server{"jail serve --pool :reuse, root, cgroup limits", "reuse-root", startServe(b, e, true, "--pool", "default=4:reuse")})
	} else {
		b.Log("not root: no rows of servers holding limits by cgroups")
	}
	loadBefore := loadAvg()
	type row struct {
		name  string
		sides []*side
		fork  float64
	}
	var rows []row
	for _, w := range works {
		b.Run(w.name, func(b *testing.B) {
			var sides []*side
			for _, sv := range servers {
				if sv.s.limited && w.limited == nil {
					continue
				}
				sides = append(sides, &side{name: sv.name, metric: sv.metric, server: true,
					do: func() (time.Duration, time.Duration, error) { return sv.s.post(w) }})
			}
			proc := &side{name: "jail " + w.argv[0], metric: "process",
				do: func() (time.Duration, time.Duration, error) { d, err := e.process(w); return d, 0, err }}
			sides = append(sides, proc)
			// Warm the page cache, the compiler, the connections.
			for range 2 {
				for _, d := range sides {
					if _, _, err := d.do(); err != nil {
						b.Fatal(err)
					}
				}
			}
			var fork []time.Duration
			iter := 0
			for b.Loop() {
				for i := range w.rounds {
					ways := make([]func() error, 0, len(sides)+1)
					for _, d := range sides {
						ways = append(ways, func() error {
							l, t, err := d.do()
							d.lat, d.task = append(d.lat, l), append(d.task, t)
							return err
						})
					}
					if w.tests == 0 {
						ways = append(ways, func() error {
							fork = append(fork, launcher{name: "fork+exec", argv: inSandboxPath(w.steps), env: e}.run(b))
							return nil
						})
					}
					for k := range ways {
						if err := ways[(i+k)%len(ways)](); err != nil {
							b.Fatal(err)
						}
					}
				}
				for i := range len(sides) * w.blocks {
					d := sides[(i+iter)%len(sides)]
					wall, ls, err := concurrently(2, w.perClient, func() (time.Duration, error) {
						l, _, err := d.do()
						return l, err
					})
					if err != nil {
						b.Fatal(err)
					}
					d.wall2, d.lat2 = d.wall2+wall, append(d.lat2, ls...)
				}
				iter++
			}
			r := row{name: w.name, sides: sides}
			if len(fork) > 0 {
				r.fork = ms(median(fork))
				b.ReportMetric(r.fork, "fork-exec-median-ms")
			}
			for _, d := range sides {
				b.ReportMetric(d.median(), d.metric+"-median-ms")
				b.ReportMetric(ms(percentile(d.lat, 95)), d.metric+"-p95-ms")
				b.ReportMetric(d.rate2(), d.metric+"-2c-tasks/s")
				b.ReportMetric(ms(median(d.lat2)), d.metric+"-2c-median-ms")
				if d.server {
					b.ReportMetric(ms(median(d.task)), d.metric+"-task-ms")
					b.ReportMetric(d.gap(), d.metric+"-http+queue-ms")
					b.ReportMetric(proc.median()/d.median(), "x-process-"+d.metric)
				}
			}
			rows = append(rows, r)
		})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\n| workload | via | 1 client: median ms | p95 ms | server's time ms | HTTP + queue ms | 2 clients: tasks/s | median ms | process ÷ serve, 1 client | serve ÷ process, tasks/s |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, r := range rows {
		proc := r.sides[len(r.sides)-1]
		for _, d := range r.sides {
			if !d.server {
				fmt.Printf("| %s | %s | %.2f | %.2f | – | – | %.1f | %.2f | | |\n",
					r.name, d.name, d.median(), ms(percentile(d.lat, 95)), d.rate2(), ms(median(d.lat2)))
				continue
			}
			fmt.Printf("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f | %.2f× | %.2f× |\n",
				r.name, d.name, d.median(), ms(percentile(d.lat, 95)), ms(median(d.task)), d.gap(), d.rate2(), ms(median(d.lat2)),
				proc.median()/d.median(), d.rate2()/proc.rate2())
		}
		if r.fork > 0 {
			fmt.Printf("| %s | fork+exec, no sandbox | %.2f | | | | | | | |\n", r.name, r.fork)
		}
		notes = append(notes, fmt.Sprintf("%s %d+%d, %d+%d", r.name, len(proc.lat), len(proc.lat), len(proc.lat2), len(proc.lat2)))
	}
	fmt.Printf("\njail serve --parallel 2 on loopback TCP; tasks one client, then two clients, each side: %s. jail run with %s (the server's limits for raw steps). Load average (1 min) %s before, %s after.\n",
		strings.Join(notes, "; "), strings.Join(stepsMaxFlags(), " "), loadBefore, loadAvg())
}
