package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"jail/judge"
	"jail/sandbox"
)

// clientMessage is what a WebSocket client sends: stdin for a task made
// with "attach", its end, a signal for PROG, or a terminal size.
type clientMessage struct {
	Type   string          `json:"type"`
	Text   *string         `json:"text,omitempty"`
	B64    *string         `json:"b64,omitempty"`
	Signal json.RawMessage `json:"signal,omitempty"`
	Rows   int             `json:"rows,omitempty"`
	Cols   int             `json:"cols,omitempty"`
}

// serverMessage is one event, as the SSE stream has it.
type serverMessage struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

// ws serves GET /v1/runs/{id}/ws: the task's events, as on the SSE
// stream, ending with done, and from the client stdin, EOF and signals.
// A message that is not the protocol ends the connection with 1008 and an
// error event naming the field.
func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c.SetReadLimit(1 << 20)

	go func() {
		defer cancel()
		for n := 1; ; n++ {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var m clientMessage
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil || typ != websocket.MessageText {
				if err == nil {
					err = errors.New("a binary frame")
				}
				s.wsRefuse(ctx, c, errorf(http.StatusBadRequest, codeBadJSON, "", fmt.Sprintf("message %d is not a JSON text message: %v", n, err)))
				return
			}
			if e := j.control(m, n); e != nil {
				if e.Status == 0 {
					// Not an error of the protocol: say so and go on.
					_ = wsjson.Write(ctx, c, serverMessage{"error", map[string]any{"error": e}})
					continue
				}
				s.wsRefuse(ctx, c, e)
				return
			}
		}
	}()

	err = j.follow(ctx, func(evs []event) error {
		for _, e := range evs {
			if err := wsjson.Write(ctx, c, serverMessage{e.name, e.data}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		c.Close(websocket.StatusNormalClosure, "done")
	}
}

// wsRefuse sends the error as an event and closes with policy violation.
func (s *Server) wsRefuse(ctx context.Context, c *websocket.Conn, e *apiError) {
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = wsjson.Write(wctx, c, serverMessage{"error", map[string]any{"error": e}})
	reason := e.Message
	if len(reason) > 120 {
		reason = reason[:120]
	}
	c.Close(websocket.StatusPolicyViolation, reason)
}

// control acts on one client message; an error with Status 0 is one the
// client may go on after (a resize without a terminal).
func (j *job) control(m clientMessage, n int) *apiError {
	bad := func(fieldName, format string, args ...any) *apiError {
		return errorf(http.StatusBadRequest, codeInvalid, fieldName, fmt.Sprintf("message %d: ", n)+fmt.Sprintf(format, args...))
	}
	switch m.Type {
	case "stdin":
		var b []byte
		switch {
		case m.Text != nil && m.B64 == nil:
			b = []byte(*m.Text)
		case m.B64 != nil && m.Text == nil:
			var err error
			if b, err = base64.StdEncoding.DecodeString(*m.B64); err != nil {
				return bad("b64", "not base64: %v", err)
			}
		default:
			return bad("text", "stdin carries exactly one of text and b64")
		}
		w := j.stdin()
		if w == nil {
			return &apiError{Code: codeInvalid, Field: "type", Message: fmt.Sprintf("message %d: this task's stdin is not attached (create it with \"attach\": true) or is closed", n)}
		}
		_, _ = w.Write(b)
	case "eof":
		j.closeStdin()
	case "signal":
		sig, err := parseSignal(m.Signal)
		if err != nil {
			return bad("signal", "%v", err)
		}
		if !j.signal(sig) {
			return &apiError{Code: codeInvalid, Field: "signal", Message: fmt.Sprintf("message %d: the task is not running", n)}
		}
	case "resize":
		if m.Rows <= 0 || m.Cols <= 0 || m.Rows > 65535 || m.Cols > 65535 {
			return bad("rows", "give rows and cols, both from 1 to 65535")
		}
		if !j.setSize(judge.Winsize{Rows: uint16(m.Rows), Cols: uint16(m.Cols)}) {
			return &apiError{Code: codeInvalid, Field: "type", Message: fmt.Sprintf("message %d: this task has no terminal to resize (create it with \"tty\": true)", n)}
		}
	default:
		return bad("type", "unknown type %q: use stdin, eof, signal or resize", m.Type)
	}
	return nil
}

// parseSignal reads "SIGINT", "INT" or 2.
func parseSignal(raw json.RawMessage) (syscall.Signal, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, fmt.Errorf("give a signal name such as \"SIGINT\" or its number")
		}
		name = strconv.Itoa(n)
	}
	return sandbox.ParseSignal(name)
}
