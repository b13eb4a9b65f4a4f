package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/judge"
	"jail/sandbox"
	"jail/verdict"
)

// The runtimes list has Piston's shape (docs/api-v2.md: language,
// version, aliases, runtime only where there are alternatives), with the
// toolchains' own versions.
func TestPistonRuntimes(t *testing.T) {
	ts, _ := startCompat(t, Config{Parallel: 1})
	status, out := ts.foreign(t, http.MethodGet, "/api/v2/runtimes", "", "")
	require.Equal(t, 200, status)
	byName := map[string]map[string]any{}
	for _, e := range out.([]any) {
		m := e.(map[string]any)
		byName[m["language"].(string)] = m
	}
	// The doc's example entry: {"language": "javascript", "version":
	// "24.16.0", "aliases": ["node-javascript", "node-js", "javascript",
	// "js"], "runtime": "node"}.
	js := byName["javascript"]
	require.NotNil(t, js)
	assert.Equal(t, "24.16.0", js["version"])
	assert.Equal(t, "node", js["runtime"])
	assert.Subset(t, js["aliases"], []any{"node-javascript", "node-js", "javascript", "js"})
	assert.Equal(t, "3.11.2", byName["python"]["version"])
	assert.Subset(t, byName["python"]["aliases"], []any{"py", "python3"})
	assert.NotContains(t, byName["python"], "runtime", "no alternatives, no runtime field")
	assert.Equal(t, "12.2.0", byName["c++"]["version"])
	assert.Equal(t, "1.26.0", byName["go"]["version"])
	assert.Equal(t, "17.0.8", byName["java"]["version"])
	assert.Len(t, byName, 6)
}

// The doc's execute example, request and response.
func TestPistonExecuteDocExample(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	stdout := "[\n  '/piston/packages/node/24.16.0/bin/node',\n  '/piston/jobs/e87afa0d-6c2a-40b8-a824-ffb9c5c6cb64/my_cool_code.js',\n  '1',\n  '2',\n  '3'\n]\n"
	a.set(&judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run",
		Result: &sandbox.Result{Verdict: verdict.OK, CPUUser: sandbox.Seconds(30 * time.Millisecond), WallTime: sandbox.Seconds(45 * time.Millisecond), PeakMemory: 40 << 20},
		Output: text(stdout), Stderr: text("")}})
	status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json", `{
  "language": "js",
  "version": "24.16.0",
  "files": [
    {
      "name": "my_cool_code.js",
      "content": "console.log(process.argv)"
    }
  ],
  "stdin": "",
  "args": ["1", "2", "3"],
  "compile_timeout": 10000,
  "run_timeout": 3000,
  "compile_memory_limit": -1,
  "run_memory_limit": -1
}`)
	require.Equal(t, 200, status, "%v", out)
	got := out.(map[string]any)
	assert.Equal(t, "javascript", got["language"])
	assert.Equal(t, "24.16.0", got["version"])
	assert.NotContains(t, got, "compile", "node has no compile stage")
	run := got["run"].(map[string]any)
	assert.Equal(t, stdout, run["stdout"])
	assert.Equal(t, "", run["stderr"])
	assert.Equal(t, stdout, run["output"])
	assert.Equal(t, 0.0, run["code"])
	assert.Nil(t, run["signal"])
	assert.Nil(t, run["status"])
	assert.Equal(t, 30.0, run["cpu_time"], "milliseconds")
	assert.Equal(t, 45.0, run["wall_time"])
	assert.Equal(t, float64(40<<20), run["memory"], "bytes")

	task := a.last(t)
	assert.Equal(t, "node", task.task.Program.Profile.Name)
	require.Len(t, task.task.Program.Files, 1)
	assert.Equal(t, "main.js", task.task.Program.Files[0].Name, "the entry takes the profile's source name")
	assert.Equal(t, "console.log(process.argv)", string(task.task.Program.Files[0].Data))
	assert.Equal(t, []string{"1", "2", "3"}, task.task.Program.Args)
	assert.Equal(t, "\n", task.stdin, "Piston ends stdin with a newline")
	assert.Equal(t, 3*time.Second, task.task.Program.Settings.Limits.Wall, "run_timeout is the wall limit")
	assert.Zero(t, task.task.Program.Settings.Limits.Memory, "-1 keeps the profile's memory limit")
}

// Piston's own files: several, with encodings, the entry the first utf8
// one; the limits in milliseconds and bytes, CPU time included.
func TestPistonExecuteFilesAndLimits(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.set(&judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run", Result: &sandbox.Result{}, Output: text(""), Stderr: text("")}})
	status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json", `{"language":"python","version":"*",
		"files":[{"name":"data.bin","content":"AAE=","encoding":"base64"},{"name":"prog.py","content":"import util"},
		{"name":"util.py","content":"7a","encoding":"hex"}],
		"stdin":"1 2\n","run_timeout":2500,"run_cpu_time":1500,"run_memory_limit":100000000}`)
	require.Equal(t, 200, status, "%v", out)
	task := a.last(t)
	files := map[string]string{}
	for _, f := range task.task.Program.Files {
		files[f.Name] = string(f.Data)
	}
	assert.Equal(t, map[string]string{"main.py": "import util", "data.bin": "\x00\x01", "util.py": "z"}, files)
	assert.Equal(t, "main.py", task.task.Program.Files[0].Name)
	assert.Equal(t, "1 2\n", task.stdin, "a newline already there is not doubled")
	l := task.task.Program.Settings.Limits
	assert.Equal(t, 2500*time.Millisecond, l.Wall)
	assert.Equal(t, 1500*time.Millisecond, l.CPUTime)
	assert.Equal(t, int64(100000000), l.Memory)
}

// Every verdict comes back as Piston's isolate tells it: code or signal,
// status and message.
func TestPistonVerdicts(t *testing.T) {
	run := func(v verdict.Verdict, code int, sig, hit string) *judge.StepResult {
		return &judge.StepResult{Step: "run", Result: &sandbox.Result{Verdict: v, ExitCode: code, Signal: sig, LimitHit: hit},
			Output: text("out"), Stderr: text("err")}
	}
	tests := []struct {
		name   string
		res    *judge.Result
		code   any
		signal any
		status any
	}{
		{"OK", &judge.Result{Verdict: verdict.OK, Run: run(verdict.OK, 0, "", "")}, 0.0, nil, nil},
		{"RE", &judge.Result{Verdict: verdict.RE, Run: run(verdict.RE, 3, "", "")}, 3.0, nil, "RE"},
		{"TLE", &judge.Result{Verdict: verdict.TLE, Run: run(verdict.TLE, 137, "SIGKILL", "wall")}, nil, "SIGKILL", "TO"},
		{"SIG", &judge.Result{Verdict: verdict.SIG, Run: run(verdict.SIG, 139, "SIGSEGV", "")}, nil, "SIGSEGV", "SG"},
		{"MLE", &judge.Result{Verdict: verdict.MLE, Run: run(verdict.MLE, 137, "SIGKILL", "memory")}, nil, "SIGKILL", "SG"},
		{"OLE", &judge.Result{Verdict: verdict.OLE, Run: run(verdict.OLE, 153, "SIGXFSZ", "output")}, nil, "SIGKILL", "OL"},
		{"SV", &judge.Result{Verdict: verdict.SV, Run: run(verdict.SV, 159, "SIGSYS", "")}, nil, "SIGSYS", "SG"},
		{"XX", &judge.Result{Verdict: verdict.XX, Run: run(verdict.XX, 125, "", "")}, 125.0, nil, "XX"},
	}
	ts, a := startCompat(t, Config{Parallel: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.set(tt.res)
			status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json",
				`{"language":"py","version":"3.11.2","files":[{"content":"print(1)"}]}`)
			require.Equal(t, 200, status, "%v", out)
			r := out.(map[string]any)["run"].(map[string]any)
			assert.Equal(t, tt.code, r["code"])
			assert.Equal(t, tt.signal, r["signal"])
			assert.Equal(t, tt.status, r["status"])
			assert.Equal(t, "outerr", r["output"], "stdout, then stderr")
			if tt.status != nil {
				assert.NotEmpty(t, r["message"])
			}
		})
	}
}

// A compiled language has a compile stage; when it fails, run is the
// compile stage, as Piston keeps it for old clients.
func TestPistonCompile(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	compile := &judge.StepResult{Step: "compile", Result: &sandbox.Result{Verdict: verdict.CE, ExitCode: 1}, Output: text("main.cpp:1: error: x\n")}
	a.set(&judge.Result{Verdict: verdict.CE, Compile: []*judge.StepResult{compile}})
	status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json",
		`{"language":"c++","version":"10.2.0","files":[{"name":"a.cpp","content":"int main( {"}],"compile_timeout":20000,"compile_memory_limit":500000000}`)
	require.Equal(t, 200, status, "%v", out)
	got := out.(map[string]any)
	c := got["compile"].(map[string]any)
	assert.Equal(t, 1.0, c["code"])
	assert.Equal(t, "RE", c["status"])
	assert.Equal(t, "main.cpp:1: error: x\n", c["stderr"])
	assert.Equal(t, "main.cpp:1: error: x\n", c["output"])
	assert.Equal(t, c, got["run"])
	assert.Equal(t, "12.2.0", got["version"], "the version that ran, not the one asked")
	task := a.last(t)
	assert.Equal(t, 20*time.Second, task.task.Program.CompileLimits.Wall)
	assert.Equal(t, int64(500000000), task.task.Program.CompileLimits.Memory)

	a.set(&judge.Result{Verdict: verdict.OK, Compile: []*judge.StepResult{{Step: "compile", Result: &sandbox.Result{}, Output: text("")}},
		Run: &judge.StepResult{Step: "run", Result: &sandbox.Result{}, Output: text("hi"), Stderr: text("")}})
	_, out = ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json", `{"language":"cpp","version":"*","files":[{"content":"x"}]}`)
	got = out.(map[string]any)
	assert.Equal(t, 0.0, got["compile"].(map[string]any)["code"])
	assert.Equal(t, "hi", got["run"].(map[string]any)["stdout"])
}

// Errors are Piston's: 400 with its message, 415 for a body that is not
// JSON, in Piston's order of checks.
func TestPistonErrors(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	tests := []struct {
		name, ctype, body string
		status            int
		message           string
	}{
		{"not JSON", "text/plain", `{}`, 415, "requests must be of type application/json"},
		{"no language", "application/json", `{"version":"1","files":[]}`, 400, "language is required as a string"},
		{"language not a string", "application/json", `{"language":3,"version":"1","files":[]}`, 400, "language is required as a string"},
		{"no version", "application/json", `{"language":"py","files":[]}`, 400, "version is required as a string"},
		{"files not an array", "application/json", `{"language":"py","version":"*","files":"x"}`, 400, "files is required as an array"},
		{"content missing", "application/json", `{"language":"py","version":"*","files":[{"content":"a"},{"name":"b"}]}`, 400, "files[1].content is required as a string"},
		{"unknown runtime", "application/json", `{"language":"cobol","version":"3.0","files":[{"content":""}]}`, 400, "cobol-3.0 runtime is unknown"},
		{"no utf8 file", "application/json", `{"language":"py","version":"*","files":[{"content":"AA==","encoding":"base64"}]}`, 400, "files must include at least one utf8 encoded file"},
		{"limit not a number", "application/json", `{"language":"py","version":"*","files":[{"content":""}],"run_timeout":"3s"}`, 400, "If specified, run_timeout must be a number"},
		{"limit over the maximum", "application/json", `{"language":"py","version":"*","files":[{"content":""}],"run_timeout":60000}`, 400, "run_timeout cannot exceed the configured limit of 10000"},
		{"memory over the maximum", "application/json", `{"language":"py","version":"*","files":[{"content":""}],"run_memory_limit":1e12}`, 400, "run_memory_limit cannot exceed the configured limit of 268435456"},
		{"negative limit", "application/json", `{"language":"py","version":"*","files":[{"content":""}],"run_cpu_time":-5}`, 400, "run_cpu_time must be non-negative"},
		{"args not strings", "application/json", `{"language":"py","version":"*","files":[{"content":""}],"args":[1]}`, 400, "args must be an array of strings"},
		{"bad file name", "application/json", `{"language":"py","version":"*","files":[{"content":""},{"name":"../x","content":""}]}`, 400, "files[1].name"},
		{"malformed JSON", "application/json", `{"language":`, 400, "the body is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", tt.ctype, tt.body)
			assert.Equal(t, tt.status, status, "%v", out)
			assert.Contains(t, out.(map[string]any)["message"], tt.message)
		})
	}
	a.mu.Lock()
	assert.Empty(t, a.tasks, "no bad request reached the judge")
	a.mu.Unlock()
	assertEmptyDir(t, ts.tmp, "a refused request leaves nothing behind")
}

// A judge that cannot judge (a missing toolchain) is Piston's 500 with a
// message; the job is not kept.
func TestPistonJudgeFailure(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.err = assert.AnError
	status, out := ts.foreign(t, http.MethodPost, "/api/v2/execute", "application/json", `{"language":"py","version":"*","files":[{"content":""}]}`)
	assert.Equal(t, 500, status)
	assert.NotEmpty(t, out.(map[string]any)["message"])
	ts.srv.mu.Lock()
	assert.Empty(t, ts.srv.jobs, "a Piston job is forgotten once answered")
	ts.srv.mu.Unlock()
}
