package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"jail/judge"
)

// seen is what a task carried when the judge got it: the files the
// request's decode wrote are gone once the task ends.
type seen struct {
	task          judge.Task
	stdin         string
	input, answer string
}

// answerExec stands in for the judge with a Result the test builds, and
// records what each task carried.
type answerExec struct {
	mu    sync.Mutex
	res   *judge.Result
	err   error
	tasks []seen
}

func (a *answerExec) exec(_ context.Context, t judge.Task) (*judge.Result, error) {
	s := seen{task: t}
	if t.Stdin != nil {
		b, _ := io.ReadAll(t.Stdin)
		s.stdin = string(b)
	}
	if len(t.Tests) > 0 {
		in, _ := os.ReadFile(t.Tests[0].Input)
		ans, _ := os.ReadFile(t.Tests[0].Answer)
		s.input, s.answer = string(in), string(ans)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tasks = append(a.tasks, s)
	return a.res, a.err
}

func (a *answerExec) last(t *testing.T) seen {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	require.NotEmpty(t, a.tasks, "the task reached the judge")
	return a.tasks[len(a.tasks)-1]
}

func (a *answerExec) set(res *judge.Result) {
	a.mu.Lock()
	a.res = res
	a.mu.Unlock()
}

// startCompat serves with answerExec as the judge and the toolchains'
// versions given, so no sandbox runs.
func startCompat(t *testing.T, cfg Config) (*testServer, *answerExec) {
	t.Helper()
	a := &answerExec{}
	cfg.Exec = a.exec
	ts := startServer(t, cfg)
	for name, v := range map[string]string{"c": "gcc (Debian 12.2.0-14) 12.2.0", "cpp": "g++ (Debian 12.2.0-14) 12.2.0",
		"go": "go version go1.26.0 linux/amd64", "java": `openjdk version "17.0.8" 2023-07-18`,
		"node": "v24.16.0", "python3": "Python 3.11.2"} {
		ts.srv.versions.Store(name, v)
	}
	return ts, a
}

// foreign sends a request with a content type and returns the status and the
// body as JSON of any shape.
func (ts *testServer) foreign(t *testing.T, method, path, ctype, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://jail"+path, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	}
	return resp.StatusCode, out
}

func text(s string) *judge.Excerpt { return &judge.Excerpt{Text: s, Bytes: int64(len(s))} }
