package server

import (
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/judge"
	"jail/verdict"
)

// echoExec is a judge that reads the attached stdin to its end, echoes it
// as output, then waits for a signal and exits with its number.
func echoExec(ctx context.Context, t judge.Task) (*judge.Result, error) {
	b, _ := io.ReadAll(t.Stdin)
	t.Output("stdout", b)
	select {
	case sig := <-t.Signals:
		return &judge.Result{Verdict: verdict.RE, Run: &judge.StepResult{Step: "run"}, Total: int(sig)}, nil
	case <-ctx.Done():
		return &judge.Result{Verdict: verdict.XX}, nil
	}
}

func dialWS(t *testing.T, ts *testServer, path string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws://jail"+path, &websocket.DialOptions{HTTPClient: ts.client})
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readUntil(t *testing.T, c *websocket.Conn, event string) serverMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var m serverMessage
		require.NoError(t, wsjson.Read(ctx, c, &m))
		if m.Event == event {
			return m
		}
	}
}

// A client attached to a task writes its stdin, ends it, signals PROG and
// hears every event to done.
func TestWebSocketAttach(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1, Exec: echoExec})
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs", `{"profile":"python3","files":[{"name":"m.py","text":""}],"attach":true}`)
	require.Equal(t, 202, status, "%v", out)
	c := dialWS(t, ts, "/v1/runs/"+out["id"].(string)+"/ws")
	ctx := context.Background()
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "stdin", "text": "hello "}))
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "stdin", "b64": "d29ybGQ="}))
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "eof"}))
	m := readUntil(t, c, "output")
	assert.Equal(t, map[string]any{"stream": "stdout", "text": "hello world"}, m.Data)
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "signal", "signal": "INT"}))
	m = readUntil(t, c, "done")
	res := m.Data.(map[string]any)["result"].(map[string]any)
	assert.InDelta(t, float64(syscall.SIGINT), res["total"], 0, "the signal reached PROG")
	assert.Equal(t, websocket.StatusNormalClosure, closeStatus(t, c), "closed after done")
}

// closeStatus reads past the events still in flight to the close.
func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// A message that is not the protocol ends the connection with 1008 and an
// error naming the field; one the task cannot use is said and the
// connection goes on.
func TestWebSocketProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		msg   any
		field string
		fatal bool
	}{
		{"unknown type", map[string]any{"type": "launch"}, "type", true},
		{"stdin with both", map[string]any{"type": "stdin", "text": "a", "b64": "YQ=="}, "text", true},
		{"bad base64", map[string]any{"type": "stdin", "b64": "!!"}, "b64", true},
		{"not a signal", map[string]any{"type": "signal", "signal": "SIGNOPE"}, "signal", true},
		{"signal out of range", map[string]any{"type": "signal", "signal": 99}, "signal", true},
		{"resize without a terminal", map[string]any{"type": "resize", "rows": 24, "cols": 80}, "type", false},
		{"stdin not attached", map[string]any{"type": "stdin", "text": "a"}, "type", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{Parallel: 1})
			_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
			c := dialWS(t, ts, "/v1/runs/"+out["id"].(string)+"/ws")
			ctx := context.Background()
			require.NoError(t, wsjson.Write(ctx, c, tt.msg))
			m := readUntil(t, c, "error")
			e := m.Data.(map[string]any)["error"].(map[string]any)
			assert.Equal(t, tt.field, e["field"], "%v", e)
			if tt.fatal {
				assert.Equal(t, websocket.StatusPolicyViolation, closeStatus(t, c))
			}
		})
	}
	// Not JSON at all.
	ts := startServer(t, Config{Parallel: 1})
	_, out, _ := ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	c := dialWS(t, ts, "/v1/runs/"+out["id"].(string)+"/ws")
	require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte("{nope")))
	m := readUntil(t, c, "error")
	assert.Equal(t, "bad_json", m.Data.(map[string]any)["error"].(map[string]any)["code"])
}

// A task made with a terminal takes the WebSocket's resize messages.
func TestWebSocketResize(t *testing.T) {
	sizes := make(chan judge.Winsize, 1)
	exec := func(ctx context.Context, t judge.Task) (*judge.Result, error) {
		select {
		case w := <-t.Resize:
			sizes <- w
		case <-ctx.Done():
		}
		return &judge.Result{Verdict: verdict.OK, Run: &judge.StepResult{Step: "run"}}, nil
	}
	ts := startServer(t, Config{Parallel: 1, Exec: exec})
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs", `{"steps":[{"argv":["/bin/sh"]}],"attach":true,"tty":true}`)
	require.Equal(t, 202, status, "%v", out)
	c := dialWS(t, ts, "/v1/runs/"+out["id"].(string)+"/ws")
	require.NoError(t, wsjson.Write(context.Background(), c, map[string]any{"type": "resize", "rows": 40, "cols": 120}))
	select {
	case w := <-sizes:
		assert.Equal(t, judge.Winsize{Rows: 40, Cols: 120}, w)
	case <-time.After(10 * time.Second):
		t.Fatal("the resize did not reach the task")
	}
	readUntil(t, c, "done")

	status, out, _ = ts.do(t, http.MethodPost, "/v1/runs", `{"steps":[{"argv":["/bin/sh"]}],"tty":true}`)
	assert.Equal(t, 422, status)
	assert.Equal(t, "tty", out["error"].(map[string]any)["field"], "a terminal needs attach")
}

// A character cut between two chunks of output is sent whole, as text;
// bytes that never become a character go out as base64 at the end.
func TestOutputKeepsCharactersWhole(t *testing.T) {
	j := newJob("local", &decoded{})
	e := []byte("é€")
	j.output("stdout", []byte{'a', e[0]})
	j.output("stdout", append(e[1:3], e[3:]...))
	j.output("stderr", []byte{'b', 0xe2, 0x82})
	j.flushOutput()
	var got []map[string]any
	for _, ev := range j.events {
		if ev.name == "output" {
			got = append(got, ev.data.(map[string]any))
		}
	}
	assert.Equal(t, []map[string]any{
		{"stream": "stdout", "text": "a"},
		{"stream": "stdout", "text": "é€"},
		{"stream": "stderr", "text": "b"},
		{"stream": "stderr", "b64": "4oI="},
	}, got)
}
