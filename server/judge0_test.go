package server

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/judge"
	"jail/sandbox"
	"jail/verdict"
)

// The C program of Judge0's create_a_submission.md examples.
const judge0Hello = "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}"

func judge0OK(stdout string) *judge.Result {
	return &judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run",
		Result: &sandbox.Result{CPUUser: sandbox.Seconds(time.Millisecond)}, Output: text(stdout), Stderr: text("")}}
}

// The doc's first example: a submission is created and its token
// returned; the judge gets the C program with its stdin.
func TestJudge0CreateDocExample(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.set(judge0OK("hello, world\n"))
	status, out := ts.foreign(t, http.MethodPost, "/submissions", "application/json", `{
        "source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}",
        "language_id": 4,
        "stdin": "world"
    }`)
	require.Equal(t, 201, status, "%v", out)
	token := out.(map[string]any)["token"].(string)
	require.NotEmpty(t, token)
	require.Eventually(t, func() bool {
		_, out := ts.foreign(t, http.MethodGet, "/submissions/"+token, "", "")
		return out.(map[string]any)["status"].(map[string]any)["id"] == 3.0
	}, 5*time.Second, 10*time.Millisecond)
	task := a.last(t)
	assert.Equal(t, "c", task.task.Program.Profile.Name)
	assert.Equal(t, "main.c", task.task.Program.Files[0].Name)
	assert.Equal(t, judge0Hello, string(task.task.Program.Files[0].Data))
	assert.Equal(t, "world", task.stdin)
	assert.Empty(t, task.task.Tests, "no expected_output, no test")

	_, out = ts.foreign(t, http.MethodGet, "/submissions/"+token, "", "")
	got := out.(map[string]any)
	assert.ElementsMatch(t, []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}, keys(got),
		"the default fields")
	assert.Equal(t, "hello, world\n", got["stdout"])
	assert.Nil(t, got["stderr"], "an empty stream is null")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The doc's wait=true example, request and response: expected_output is
// one test with the lines check, which accepts the newline Judge0 strips.
func TestJudge0WaitDocExample(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.set(&judge.Result{Verdict: verdict.OK, Passed: 1, Total: 1, Tests: []judge.TestResult{{Name: "1", Verdict: verdict.OK,
		CPUTime: sandbox.Seconds(time.Millisecond), WallTime: sandbox.Seconds(3 * time.Millisecond), PeakMemory: 380 << 10,
		Output: *text("hello, Judge0\n"), Stderr: *text("")}}})
	status, out := ts.foreign(t, http.MethodPost, "/submissions?wait=true", "application/json", `{
            "source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}",
            "language_id": "4",
            "stdin": "Judge0",
            "expected_output": "hello, Judge0"
        }`)
	require.Equal(t, 201, status, "%v", out)
	got := out.(map[string]any)
	// The doc's response: {"stdout": "hello, Judge0\n", "time": "0.001",
	// "memory": 380, "stderr": null, "token": "...", "compile_output":
	// null, "message": null, "status": {"id": 3, "description": "Accepted"}}
	assert.Equal(t, "hello, Judge0\n", got["stdout"])
	assert.Equal(t, "0.001", got["time"])
	assert.Equal(t, 380.0, got["memory"])
	assert.Nil(t, got["stderr"])
	assert.NotEmpty(t, got["token"])
	assert.Nil(t, got["compile_output"])
	assert.Nil(t, got["message"])
	assert.Equal(t, map[string]any{"id": 3.0, "description": "Accepted"}, got["status"])

	task := a.last(t)
	require.Len(t, task.task.Tests, 1)
	assert.Equal(t, "lines", task.task.Check.String())
	assert.Equal(t, "Judge0", task.input)
	assert.Equal(t, "hello, Judge0", task.answer)
	assert.Nil(t, task.task.Stdin)
}

// The doc's 422 examples, in Judge0's shape, and the features jail
// refuses, with the words Judge0 uses when a host switched them off.
func TestJudge0Refusals(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	src := `"source_code": "int main(){}"`
	tests := []struct {
		name, body, attr, message string
	}{
		{"no language (doc)", `{"source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}"}`,
			"language_id", "can't be blank"},
		{"no such language (doc)", `{"source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}", "language_id": 150000, "stdin": "world", "expected_output": "hello, world"}`,
			"language_id", "language with id 150000 doesn't exist"},
		// The doc's: {"wall_time_limit": ["must be less than or equal
		// to 150"]}; here the maximum is the c profile's, 10 seconds.
		{"wall time over the maximum (doc)", `{"source_code": "#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf(\"%s\", name);\n  printf(\"hello, %s\\n\", name);\n  return 0;\n}", "language_id": 4, "number_of_runs": 1, "stdin": "Judge0", "expected_output": "hello, Judge0", "cpu_time_limit": 1, "cpu_extra_time": 0.5, "wall_time_limit": 100000, "memory_limit": 128000, "stack_limit": 128000, "enable_per_process_and_thread_time_limit": false, "enable_per_process_and_thread_memory_limit": false, "max_file_size": 1024}`,
			"wall_time_limit", "must be less than or equal to 10"},
		{"no source", `{"language_id": 71}`, "source_code", "can't be blank"},
		{"not a number", `{` + src + `, "language_id": 71, "cpu_time_limit": "fast"}`, "cpu_time_limit", "is not a number"},
		{"memory too small", `{` + src + `, "language_id": 71, "memory_limit": 100}`, "memory_limit", "must be greater than or equal to 2048"},
		{"memory over the maximum", `{` + src + `, "language_id": 71, "memory_limit": 10000000}`, "memory_limit", "must be less than or equal to 262144"},
		{"compiler options", `{` + src + `, "language_id": 54, "compiler_options": "-O3"}`, "compiler_options", "setting compiler options is not allowed"},
		{"callback", `{` + src + `, "language_id": 71, "callback_url": "http://x/"}`, "callback_url", "setting callback is not allowed"},
		{"additional files", `{` + src + `, "language_id": 71, "additional_files": "UEsDBA=="}`, "additional_files", "setting additional files is not allowed"},
		{"network", `{` + src + `, "language_id": 71, "enable_network": true}`, "enable_network", "enabling network is not allowed"},
		{"per-process limits", `{` + src + `, "language_id": 71, "enable_per_process_and_thread_time_limit": true}`, "enable_per_process_and_thread_time_limit", "this option cannot be enabled"},
		{"stderr to stdout", `{` + src + `, "language_id": 71, "redirect_stderr_to_stdout": true}`, "redirect_stderr_to_stdout", "this option cannot be enabled"},
		{"several runs", `{` + src + `, "language_id": 71, "number_of_runs": 3}`, "number_of_runs", "must be less than or equal to 1"},
		{"stack limit", `{` + src + `, "language_id": 71, "stack_limit": 64000}`, "stack_limit", "is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := ts.foreign(t, http.MethodPost, "/submissions", "application/json", tt.body)
			require.Equal(t, 422, status, "%v", out)
			msgs := out.(map[string]any)[tt.attr]
			require.NotNil(t, msgs, "%v", out)
			assert.Contains(t, msgs.([]any)[0], tt.message)
		})
	}
	status, out := ts.foreign(t, http.MethodPost, "/submissions", "application/json", `{"source_code":`)
	assert.Equal(t, 400, status)
	assert.Contains(t, out.(map[string]any)["error"], "not a JSON submission")
	status, out = ts.foreign(t, http.MethodGet, "/submissions/nope", "", "")
	assert.Equal(t, 404, status)
	assert.NotEmpty(t, out.(map[string]any)["error"])
	status, out = ts.foreign(t, http.MethodGet, "/submissions/nope?fields=stdout,bogus,nah", "", "")
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid fields: [bogus, nah]", out.(map[string]any)["error"])
	a.mu.Lock()
	assert.Empty(t, a.tasks, "no refused submission reached the judge")
	a.mu.Unlock()
	assertEmptyDir(t, ts.tmp, "a refused submission leaves nothing behind")
}

// A server that allows the network gives it to a submission that asks.
func TestJudge0Network(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1, AllowNetwork: true})
	a.set(judge0OK(""))
	status, out := ts.foreign(t, http.MethodPost, "/submissions?wait=true&fields=enable_network,status_id", "application/json",
		`{"source_code":"print(1)","language_id":71,"enable_network":true,"cpu_time_limit":1.5,"memory_limit":65536,"command_line_arguments":"a  b"}`)
	require.Equal(t, 201, status, "%v", out)
	assert.Equal(t, map[string]any{"enable_network": true, "status_id": 3.0}, out)
	task := a.last(t)
	s := task.task.Program.Settings
	assert.Equal(t, sandbox.NetHost, *s.Net)
	assert.Equal(t, 1500*time.Millisecond, s.Limits.CPUTime)
	assert.Equal(t, int64(65536<<10), s.Limits.Memory, "kilobytes")
	assert.Equal(t, []string{"a", "b"}, task.task.Program.Args)
}

// base64_encoded=true decodes the doc's base64 example and encodes what
// comes back; without it, output that is not UTF-8 is Judge0's error.
func TestJudge0Base64(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.set(&judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run", Result: &sandbox.Result{},
		Output: &judge.Excerpt{B64: base64.StdEncoding.EncodeToString([]byte("hello, \xfe\n"))}, Stderr: text("warn")}})
	status, out := ts.foreign(t, http.MethodPost, "/submissions?base64_encoded=true&wait=true&fields=*", "application/json", `{
            "source_code": "I2luY2x1ZGUgPHN0ZGlvLmg+CgppbnQgbWFpbih2b2lkKSB7CiAgY2hhciBuYW1lWzEwXTsKICBzY2FuZigiJXMiLCBuYW1lKTsKICBwcmludGYoImhlbGxvLCAlc1xuIiwgbmFtZSk7CiAgcmV0dXJuIDA7Cn0=",
            "language_id": 4,
            "stdin": "SnVkZ2Uw"
        }`)
	require.Equal(t, 201, status, "%v", out)
	got := out.(map[string]any)
	task := a.last(t)
	assert.Equal(t, judge0Hello, string(task.task.Program.Files[0].Data))
	assert.Equal(t, "Judge0", task.stdin)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("hello, \xfe\n")), got["stdout"])
	assert.Equal(t, "d2Fybg==", got["stderr"])
	assert.Equal(t, "SnVkZ2Uw", got["stdin"], "what was sent comes back as sent")
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte(judge0Hello)), got["source_code"])
	assert.Equal(t, 4.0, got["language_id"])
	assert.Equal(t, map[string]any{"id": 4.0, "name": "C (GCC 12.2.0)"}, got["language"])
	assert.Equal(t, 1.0, got["number_of_runs"])
	assert.Equal(t, 2.0, got["cpu_time_limit"], "the profile's limit, in seconds")
	assert.Equal(t, 262144.0, got["memory_limit"], "in kilobytes")
	assert.NotEmpty(t, got["created_at"])
	assert.NotEmpty(t, got["finished_at"])

	token := got["token"].(string)
	status, out = ts.foreign(t, http.MethodGet, "/submissions/"+token, "", "")
	assert.Equal(t, 400, status)
	assert.Equal(t, "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter", out.(map[string]any)["error"])
	status, out = ts.foreign(t, http.MethodGet, "/submissions/"+token+"?fields=status", "", "")
	assert.Equal(t, 200, status, "a field that is text is fine")
	assert.Equal(t, 3.0, out.(map[string]any)["status"].(map[string]any)["id"])

	status, out = ts.foreign(t, http.MethodPost, "/submissions?base64_encoded=true", "application/json", `{"source_code":"!!!","language_id":71}`)
	assert.Equal(t, 422, status)
	assert.Equal(t, []any{"is not valid base64"}, out.(map[string]any)["source_code"])
}

// Each verdict is Judge0's status, the signal deciding the runtime
// error's kind, and a compile error is 6 with compile_output.
func TestJudge0Statuses(t *testing.T) {
	run := func(v verdict.Verdict, code int, sig string) *judge.Result {
		return &judge.Result{Verdict: v, Run: &judge.StepResult{Step: "run", Result: &sandbox.Result{Verdict: v, ExitCode: code, Signal: sig}, Output: text(""), Stderr: text("")}}
	}
	test := func(v verdict.Verdict, msg string) *judge.Result {
		return &judge.Result{Verdict: v, Tests: []judge.TestResult{{Name: "1", Verdict: v, Message: msg}}}
	}
	ce := &judge.Result{Verdict: verdict.CE, Compile: []*judge.StepResult{{Step: "compile", Result: &sandbox.Result{Verdict: verdict.CE, ExitCode: 1}, Output: text("main.c:1: error\n")}}}
	ceTime := &judge.Result{Verdict: verdict.CE, Compile: []*judge.StepResult{{Step: "compile", Result: &sandbox.Result{Verdict: verdict.CE, LimitHit: "wall"}, Output: text("")}}}
	tests := []struct {
		name    string
		res     *judge.Result
		id      float64
		signal  any
		message any
		compile any
	}{
		{"accepted", run(verdict.OK, 0, ""), 3, nil, nil, nil},
		{"wrong answer", test(verdict.WA, "line 1: expected 2, got 3"), 4, nil, "line 1: expected 2, got 3", nil},
		{"presentation is wrong answer", test(verdict.PE, "tokens agree"), 4, nil, "tokens agree", nil},
		{"time limit", run(verdict.TLE, 137, "SIGKILL"), 5, 9.0, nil, nil},
		{"compile error", ce, 6, nil, nil, "main.c:1: error\n"},
		{"compile time limit", ceTime, 6, nil, nil, "Compilation time limit exceeded."},
		{"SIGSEGV", run(verdict.SIG, 139, "SIGSEGV"), 7, 11.0, "Caught fatal signal 11", nil},
		{"output limit", run(verdict.OLE, 153, "SIGXFSZ"), 8, 25.0, nil, nil},
		{"SIGFPE", run(verdict.SIG, 136, "SIGFPE"), 9, 8.0, nil, nil},
		{"SIGABRT", run(verdict.SIG, 134, "SIGABRT"), 10, 6.0, nil, nil},
		{"nonzero exit", run(verdict.RE, 3, ""), 11, nil, "Exited with error status 3", nil},
		{"another signal", run(verdict.SIG, 138, "SIGUSR1"), 12, 10.0, nil, nil},
		{"memory", run(verdict.MLE, 137, "SIGKILL"), 12, 9.0, nil, nil},
		{"seccomp", run(verdict.SV, 159, "SIGSYS"), 12, 31.0, nil, nil},
		{"sandbox failure", run(verdict.XX, 125, ""), 13, nil, nil, nil},
		{"cannot execute", run(verdict.XX, 126, ""), 14, nil, nil, nil},
	}
	ts, a := startCompat(t, Config{Parallel: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.set(tt.res)
			status, out := ts.foreign(t, http.MethodPost, "/submissions?wait=true&fields=status,exit_signal,message,compile_output", "application/json",
				`{"source_code":"x","language_id":50}`)
			require.Equal(t, 201, status, "%v", out)
			got := out.(map[string]any)
			assert.Equal(t, tt.id, got["status"].(map[string]any)["id"])
			assert.Equal(t, tt.signal, got["exit_signal"])
			if tt.message != nil {
				assert.Equal(t, tt.message, got["message"])
			}
			assert.Equal(t, tt.compile, got["compile_output"])
		})
	}
}

// GET /statuses is the doc's list and Exec Format Error; GET /languages
// lists one id per profile, named with the toolchain's version.
func TestJudge0Lists(t *testing.T) {
	ts, _ := startCompat(t, Config{Parallel: 1})
	status, out := ts.foreign(t, http.MethodGet, "/statuses", "", "")
	require.Equal(t, 200, status)
	list := out.([]any)
	require.Len(t, list, 14)
	assert.Equal(t, map[string]any{"id": 1.0, "description": "In Queue"}, list[0])
	assert.Equal(t, map[string]any{"id": 11.0, "description": "Runtime Error (NZEC)"}, list[10])
	assert.Equal(t, map[string]any{"id": 14.0, "description": "Exec Format Error"}, list[13])

	status, out = ts.foreign(t, http.MethodGet, "/languages", "", "")
	require.Equal(t, 200, status)
	assert.ElementsMatch(t, []any{
		map[string]any{"id": 50.0, "name": "C (GCC 12.2.0)"},
		map[string]any{"id": 54.0, "name": "C++ (GCC 12.2.0)"},
		map[string]any{"id": 60.0, "name": "Go (1.26.0)"},
		map[string]any{"id": 62.0, "name": "Java (OpenJDK 17.0.8)"},
		map[string]any{"id": 63.0, "name": "JavaScript (Node.js 24.16.0)"},
		map[string]any{"id": 71.0, "name": "Python (3.11.2)"},
	}, out)

	// The doc's get_a_language shape.
	status, out = ts.foreign(t, http.MethodGet, "/languages/54", "", "")
	require.Equal(t, 200, status)
	lang := out.(map[string]any)
	assert.Equal(t, 54.0, lang["id"])
	assert.Equal(t, false, lang["is_archived"])
	assert.Equal(t, "main.cpp", lang["source_file"])
	assert.Contains(t, lang["compile_cmd"], "g++")
	status, _ = ts.foreign(t, http.MethodGet, "/languages/46", "", "")
	assert.Equal(t, 404, status, "no bash profile")
}

// The doc's batch example: bash (46) and ruby (72) have no profile here,
// so only Python's submission is created; each entry is a token or the
// submission's errors, 201 because one was created. GET batch shows them
// in order, null for a token it does not know.
func TestJudge0Batch(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1})
	a.set(judge0OK("hello from Python\n"))
	status, out := ts.foreign(t, http.MethodPost, "/submissions/batch", "application/json", `{
        "submissions":
        [
            {
                "language_id": 46,
                "source_code": "echo hello from Bash"
            },
            {
                "language_id": 71,
                "source_code": "print(\"hello from Python\")"
            },
            {
                "language_id": 72,
                "source_code": "puts(\"hello from Ruby\")"
            }
        ]
    }`)
	require.Equal(t, 201, status, "%v", out)
	list := out.([]any)
	require.Len(t, list, 3)
	assert.Equal(t, map[string]any{"language_id": []any{"language with id 46 doesn't exist"}}, list[0])
	token := list[1].(map[string]any)["token"].(string)
	assert.Equal(t, map[string]any{"language_id": []any{"language with id 72 doesn't exist"}}, list[2])
	require.Eventually(t, func() bool {
		_, out := ts.foreign(t, http.MethodGet, "/submissions/batch?tokens="+token+",nope&fields=token,stdout,status_id", "", "")
		subs := out.(map[string]any)["submissions"].([]any)
		return len(subs) == 2 && subs[1] == nil && subs[0].(map[string]any)["status_id"] == 3.0
	}, 5*time.Second, 10*time.Millisecond)
	// Done, so it reached the judge: with the source it was given.
	assert.Equal(t, `print("hello from Python")`, string(a.last(t).task.Program.Files[0].Data))
	_, out = ts.foreign(t, http.MethodGet, "/submissions/batch?tokens="+token, "", "")
	assert.Equal(t, "hello from Python\n", out.(map[string]any)["submissions"].([]any)[0].(map[string]any)["stdout"])

	status, out = ts.foreign(t, http.MethodPost, "/submissions/batch", "application/json", `{"submissions":[{"language_id":46,"source_code":"x"}]}`)
	assert.Equal(t, 422, status, "none created")
	assert.Len(t, out, 1)
	status, out = ts.foreign(t, http.MethodPost, "/submissions/batch", "application/json", `{"submissions":[]}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "there should be at least one submission in a batch", out.(map[string]any)["error"])
	status, out = ts.foreign(t, http.MethodGet, "/submissions/batch", "", "")
	assert.Equal(t, 400, status)
	assert.Equal(t, "there should be at least one submission in a batch", out.(map[string]any)["error"])
}

// A full queue is Judge0's 503 "queue is full"; a queued submission is
// In Queue, and Processing once a worker has it.
func TestJudge0Queue(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Queue: 1})
	body := `{"source_code":"print(1)","language_id":71,"stdin":"x"}`
	_, out := ts.foreign(t, http.MethodPost, "/submissions", "application/json", body)
	running := out.(map[string]any)["token"].(string)
	<-ts.fake.started
	_, out = ts.foreign(t, http.MethodPost, "/submissions", "application/json", body)
	queued := out.(map[string]any)["token"].(string)
	status, out := ts.foreign(t, http.MethodPost, "/submissions", "application/json", body)
	assert.Equal(t, 503, status)
	assert.Equal(t, map[string]any{"error": "queue is full"}, out)
	status, out = ts.foreign(t, http.MethodPost, "/submissions/batch", "application/json", `{"submissions":[`+body+`]}`)
	assert.Equal(t, 503, status)
	assert.Equal(t, map[string]any{"error": "queue is full"}, out)

	_, out = ts.foreign(t, http.MethodGet, "/submissions/"+running+"?fields=status,time,finished_at", "", "")
	assert.Equal(t, map[string]any{"status": map[string]any{"id": 2.0, "description": "Processing"}, "time": nil, "finished_at": nil}, out)
	_, out = ts.foreign(t, http.MethodGet, "/submissions/"+queued+"?fields=status", "", "")
	assert.Equal(t, map[string]any{"status": map[string]any{"id": 1.0, "description": "In Queue"}}, out)
	status, _ = ts.foreign(t, http.MethodGet, "/v1/runs/"+queued, "", "")
	assert.Equal(t, 200, status, "a Judge0 submission is a jail task like any other")
}
