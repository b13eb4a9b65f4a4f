package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/limits"
)

// tokensFor writes a tokens file with one [[token]] per name, each token
// being "secret-NAME", with the extra keys given for it.
func tokensFor(t *testing.T, extra map[string]string, names ...string) *Tokens {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "[[token]]\nname = %q\nsha256 = %q\n%s\n", n, HashToken("secret-"+n), extra[n])
	}
	ts, err := ParseTokens("tokens.toml", []byte(b.String()))
	require.NoError(t, err, b.String())
	return ts
}

// doAs is do with Authorization: Bearer TOKEN (none when token is "").
func (ts *testServer) doAs(t *testing.T, token, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	header := map[string]string{}
	if token != "" {
		header["Authorization"] = "Bearer " + token
	}
	status, b, h := ts.raw(t, method, path, strings.NewReader(body), header)
	var out map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	}
	return status, out, h
}

func errorOf(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	require.Contains(t, out, "error")
	return out["error"].(map[string]any)
}

func TestParseTokens(t *testing.T) {
	hash := HashToken("x")
	good := `# the playground
[[token]]
name = "playground"
sha256 = "` + strings.ToUpper(hash) + `"
max_limits = { mem = "256M", time = "2s", pids = 16 }
max_compile_limits = { time = "10s" }
concurrency = 4
rate = "600/m"
network = true
`
	ts, err := ParseTokens("tokens.toml", []byte(good))
	require.NoError(t, err)
	require.Len(t, ts.list, 1)
	tok := ts.list[0]
	assert.Equal(t, "playground", tok.Name)
	assert.Equal(t, int64(256<<20), tok.Max.Memory)
	assert.Equal(t, 2*time.Second, tok.Max.CPUTime)
	assert.Equal(t, int64(16), tok.Max.Pids)
	assert.Equal(t, 10*time.Second, tok.MaxCompile.CPUTime)
	assert.Equal(t, 4, tok.Concurrency)
	assert.InDelta(t, 10.0, tok.Rate, 1e-9)
	assert.Equal(t, 10, tok.Burst, "a second's worth")
	assert.True(t, tok.Network)
	assert.Same(t, tok, ts.lookup("x"), "the hash is read in either case")
	assert.Nil(t, ts.lookup("y"))

	head := "[[token]]\nname = \"a\"\nsha256 = \"" + hash + "\"\n"
	tests := []struct {
		name, file string
		says       []string
	}{
		{"a syntax error", "[[token]\nname = 1", []string{"tokens.toml:", "expected end of table array"}},
		{"a wrong type", head + "concurrency = \"4\"", []string{"tokens.toml:4: token.concurrency:", "string"}},
		{"no tokens", "# nothing\n", []string{"no [[token]] tables", "--hash-token"}},
		{"an unknown table", "[[tokens]]\nname = \"a\"\n", []string{"tokens.toml:1: tokens: unknown key"}},
		{"a table after the tokens", head + "\n[limits]\nmem = 1\n", []string{"tokens.toml:5: limits: unknown key"}},
		{"an unknown key", head + "rates = \"1/s\"\n", []string{"tokens.toml:4: token.rates: unknown key", "rate"}},
		{"no name", "[[token]]\nsha256 = \"" + hash + "\"\n", []string{"tokens.toml:1: token[0].name: missing"}},
		{"a bad name", "[[token]]\nname = \"a b\"\nsha256 = \"" + hash + "\"\n", []string{"tokens.toml:2: token[0].name:", "letters"}},
		{"a name twice", head + "[[token]]\nname = \"a\"\nsha256 = \"" + HashToken("y") + "\"\n", []string{"tokens.toml:5: token[1].name:", "twice"}},
		{"no hash", "[[token]]\nname = \"a\"\n", []string{"tokens.toml:1: token[0].sha256: missing", "--hash-token"}},
		{"the token itself", "[[token]]\nname = \"a\"\nsha256 = \"hunter2\"\n", []string{"tokens.toml:3: token[0].sha256:", "64 hex"}},
		{"a hash twice", head + "[[token]]\nname = \"b\"\nsha256 = \"" + hash + "\"\n", []string{"tokens.toml:6: token[1].sha256:", "another"}},
		{"an unknown limit", head + "max_limits = { memory = \"1G\" }\n", []string{"tokens.toml:4: token[0].max_limits.memory: unknown limit", "mem"}},
		{"a bad limit", head + "[token.max_limits]\nmem = \"lots\"\n", []string{"tokens.toml:5: token[0].max_limits.mem:", "not a size"}},
		{"a limit of a wrong type", head + "max_compile_limits = { time = true }\n", []string{"token[0].max_compile_limits.time:", "a string"}},
		{"a negative concurrency", head + "concurrency = -1\n", []string{"tokens.toml:4: token[0].concurrency:"}},
		{"a rate without a unit", head + "rate = \"10\"\n", []string{"tokens.toml:4: token[0].rate:", "10/s"}},
		{"a zero rate", head + "rate = \"0/s\"\n", []string{"token[0].rate:"}},
		{"a burst without a rate", head + "burst = 5\n", []string{"tokens.toml:4: token[0].burst:", "needs a rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokens("tokens.toml", []byte(tt.file))
			require.Error(t, err)
			for _, s := range tt.says {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

// With tokens, every /v1 request needs a good one, local or not; the
// probes and a local scraper need none.
func TestTokensAuthorize(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, nil, "a")})
	status, out, h := ts.doAs(t, "", http.MethodGet, "/v1/runs/nope", "")
	assert.Equal(t, 401, status)
	assert.Equal(t, "unauthorized", errorOf(t, out)["code"])
	assert.Equal(t, `Bearer realm="jail"`, h.Get("WWW-Authenticate"))

	status, out, h = ts.doAs(t, "secret-b", http.MethodGet, "/v1/runs/nope", "")
	assert.Equal(t, 401, status)
	assert.Equal(t, "unauthorized", errorOf(t, out)["code"])
	assert.Contains(t, h.Get("WWW-Authenticate"), `error="invalid_token"`)

	status, _, _ = ts.doAs(t, "secret-a", http.MethodGet, "/v1/runs/nope", "")
	assert.Equal(t, 404, status, "through, to a task that is not there")

	resp, err := http.Get(ts.tcp + "/v1/runs/nope")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "loopback needs a token too")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		status, _, _ := ts.raw(t, http.MethodGet, path, nil, nil)
		assert.Equal(t, 200, status, path)
	}
}

// A token's maxima cap its tasks under the server's: asking more is 422
// naming the token, and asking nothing gets no more than the maximum.
func TestTokenMaxLimits(t *testing.T) {
	toks := tokensFor(t, map[string]string{"a": `max_limits = { mem = "64M", time = "1s" }
max_compile_limits = { time = "3s" }`}, "a")
	ts := startServer(t, Config{Parallel: 1, Tokens: toks})
	for body, field := range map[string]string{
		`{"profile":"python3","limits":{"mem":"128M"}}`:             "limits.mem",
		`{"profile":"cpp","compile_limits":{"time":"5s"}}`:          "compile_limits.time",
		`{"steps":[{"argv":["/bin/true"],"limits":{"time":"2s"}}]}`: "steps[0].limits.time",
	} {
		status, out, _ := ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", body)
		assert.Equal(t, 422, status, body)
		e := errorOf(t, out)
		assert.Equal(t, "over_limit", e["code"])
		assert.Equal(t, field, e["field"])
		assert.Contains(t, e["message"], `token "a"`)
	}
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs?wait=10s", `{"profile":"cpp","files":[{"name":"a.cpp","text":""}],"limits":{"time":"500ms"}}`)
	require.Equal(t, 200, status, "%v", out)
	task := ts.fake.tasks[0]
	assert.Equal(t, 500*time.Millisecond, task.Program.Settings.Limits.CPUTime, "what it asked")
	assert.Equal(t, int64(64<<20), task.Program.Settings.Limits.Memory, "the maximum, not the profile's default")
	assert.Equal(t, 3*time.Second, task.Program.CompileLimits.CPUTime)
}

// A task that sets no limit runs under the server's maximum where the
// profile's default is higher: the maximum holds for what is not asked.
func TestDefaultsNeverPassAMaximum(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Max: limits.Spec{Memory: 32 << 20}})
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s", helloTask)
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, int64(32<<20), ts.fake.tasks[0].Program.Settings.Limits.Memory)
	assert.Zero(t, ts.fake.tasks[0].Program.Settings.Limits.CPUTime, "no maximum of its own: the profile's")
}

// A token with its tasks at its concurrency is 429 until one ends; a
// refused request takes no slot.
func TestTokenConcurrency(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, map[string]string{"a": "concurrency = 1"}, "a", "b")})
	status, _, _ := ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", `{"profile":"cobol"}`)
	require.Equal(t, 422, status)
	status, _, _ = ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", helloTask)
	require.Equal(t, 202, status)
	<-ts.fake.started
	status, out, h := ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, 429, status)
	assert.Equal(t, "concurrency", errorOf(t, out)["code"])
	assert.Equal(t, "1", h.Get("Retry-After"))
	status, _, _ = ts.doAs(t, "secret-b", http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, 202, status, "another token has its own")

	ts.fake.release <- struct{}{}
	<-ts.fake.started // b's
	status, _, _ = ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", helloTask)
	assert.Equal(t, 202, status, "a's first ended, so its slot is free")
}

// A token over its rate is 429 with the time until its next request.
func TestTokenRate(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, map[string]string{"a": "rate = \"1/h\"\nburst = 2"}, "a", "b")})
	for range 2 {
		status, _, _ := ts.doAs(t, "secret-a", http.MethodGet, "/v1/runs/nope", "")
		require.Equal(t, 404, status)
	}
	status, out, h := ts.doAs(t, "secret-a", http.MethodGet, "/v1/runs/nope", "")
	assert.Equal(t, 429, status)
	assert.Equal(t, "rate_limited", errorOf(t, out)["code"])
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err)
	assert.Greater(t, retry, 3000, "most of an hour")
	status, _, _ = ts.doAs(t, "secret-b", http.MethodGet, "/v1/runs/nope", "")
	assert.Equal(t, 404, status, "another token has its own rate")
}

// Only a token that may gives its tasks the host's network.
func TestTokenNetwork(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, map[string]string{"net": "network = true"}, "net", "nonet")})
	body := `{"steps":[{"argv":["/bin/true"]}],"network":"host"}`
	status, out, _ := ts.doAs(t, "secret-nonet", http.MethodPost, "/v1/runs", body)
	assert.Equal(t, 403, status)
	assert.Equal(t, "network", errorOf(t, out)["field"])
	status, _, _ = ts.doAs(t, "secret-net", http.MethodPost, "/v1/runs", body)
	assert.Equal(t, 202, status)
}

// Each token is a client of the fair queue: a burst from one does not
// make another wait behind all of it; and the tasks count by token.
func TestTokensShareFairly(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, nil, "a", "b")})
	post := func(token, name string) {
		status, out, _ := ts.doAs(t, "secret-"+token, http.MethodPost, "/v1/runs",
			`{"profile":"python3","files":[{"name":"main.py","text":"`+name+`"}],"tests":[{"stdin":{"text":""},"expect":{"text":""}}]}`)
		require.Equal(t, 202, status, "%v", out)
	}
	post("a", "a1")
	<-ts.fake.started
	post("a", "a2")
	post("a", "a3")
	post("a", "a4")
	post("b", "b1")
	for range 4 {
		ts.fake.release <- struct{}{}
		<-ts.fake.started
	}
	ts.fake.release <- struct{}{}
	ts.fake.mu.Lock()
	assert.Equal(t, []string{"a1", "a2", "b1", "a3", "a4"}, ts.fake.sources)
	ts.fake.mu.Unlock()
	require.Eventually(t, func() bool {
		text := ts.metricsText(t)
		return strings.Contains(text, `jail_tasks_total{client="a",profile="python3",verdict="OK"} 4`) &&
			strings.Contains(text, `jail_tasks_total{client="b",profile="python3",verdict="OK"} 1`)
	}, 5*time.Second, 10*time.Millisecond, "the tasks count by token")
}

// A token sees only its own tasks: another's id is 404, for reading,
// streaming and cancelling alike.
func TestTokensSeeOnlyTheirOwnTasks(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Tokens: tokensFor(t, nil, "a", "b")})
	status, out, _ := ts.doAs(t, "secret-a", http.MethodPost, "/v1/runs", helloTask)
	require.Equal(t, 202, status, "%v", out)
	id := out["id"].(string)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/runs/" + id}, {http.MethodGet, "/v1/runs/" + id + "/events"}, {http.MethodDelete, "/v1/runs/" + id},
	} {
		status, out, _ := ts.doAs(t, "secret-b", req.method, req.path, "")
		assert.Equal(t, 404, status, "%s %s: %v", req.method, req.path, out)
	}
	status, out, _ = ts.doAs(t, "secret-a", http.MethodGet, "/v1/runs/"+id, "")
	assert.Equal(t, 200, status)
	assert.NotEqual(t, "cancelled", out["state"], "b's DELETE did not reach a's task")
}

// Judge0's routes look submissions up as /v1 does: another token's token
// is an unknown submission.
func TestTokensSeeOnlyTheirOwnJudge0Submissions(t *testing.T) {
	ts, a := startCompat(t, Config{Parallel: 1, Tokens: tokensFor(t, nil, "a", "b")})
	a.set(judge0OK("hi\n"))
	status, out, _ := ts.doAs(t, "secret-a", http.MethodPost, "/submissions?wait=true", `{"source_code":"print(1)","language_id":71}`)
	require.Equal(t, 201, status, "%v", out)
	token := out["token"].(string)
	status, _, _ = ts.doAs(t, "secret-a", http.MethodGet, "/submissions/"+token, "")
	assert.Equal(t, 200, status)
	status, _, _ = ts.doAs(t, "secret-b", http.MethodGet, "/submissions/"+token, "")
	assert.Equal(t, 404, status, "b does not see a's submission")
	status, b, _ := ts.raw(t, http.MethodGet, "/submissions/batch?tokens="+token, nil, map[string]string{"Authorization": "Bearer secret-b"})
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"submissions":[null]}`, string(b), "nor in a batch")
}
