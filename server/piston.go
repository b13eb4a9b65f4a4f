package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"jail/limits"
	"jail/profiles"
	"jail/verdict"
)

// Piston's API v2 (engineer-man/piston, docs/api-v2.md and api/src/api/v2.js):
// GET /api/v2/runtimes and POST /api/v2/execute, with Piston's field
// names, units (milliseconds, bytes), status codes and error messages
// ({"message": ...} with 400, 415 for a body that is not JSON).
//
// What differs from Piston, and why:
//   - version: any version is accepted. jail has one toolchain per language,
//     the host's; the response's version says which one ran.
//   - files: the entry is the first utf8 file, as Piston's; it takes the
//     profile's source name (main.py) unless a file has that name already,
//     and only it is compiled; the other files sit beside it (headers,
//     modules, data).
//   - run_memory_limit and compile_memory_limit of -1 ("no limit" in Piston)
//     keep the profile's limit: every jail run has one.
//   - output is stdout then stderr, not interleaved: jail keeps the two apart.
//     A compile stage's two streams are one in jail; they are in stderr and
//     output. Each stream is kept to 1 MiB (judge.RunOutput), the compile
//     stage's to 64 KiB.
//   - execute waits at most the server's --max-wait; past it the task is
//     cancelled and the answer is 504.
//   - /api/v2/packages and the /api/v2/connect websocket are not served: the
//     toolchains are the host's.
//
// Piston's run_cpu_time and compile_cpu_time are supported (CPU time, in
// milliseconds), as is stdin's trailing newline, which Piston adds when it is
// missing.

// pistonRuntime is one entry of GET /api/v2/runtimes.
type pistonRuntime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"`
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`
}

func (s *Server) pistonRuntimes(w http.ResponseWriter, _ *http.Request) {
	out := []pistonRuntime{}
	for _, l := range languages {
		p, err := profiles.Builtin(l.profile)
		if err != nil {
			continue
		}
		out = append(out, pistonRuntime{Language: l.piston, Version: s.languageVersion(p), Aliases: l.aliases, Runtime: l.runtime})
	}
	writeJSON(w, http.StatusOK, out)
}

// pistonLanguage finds a language by Piston's name or an alias.
func pistonLanguage(name string) (language, bool) {
	for _, l := range languages {
		if l.piston == name {
			return l, true
		}
		if slices.Contains(l.aliases, name) {
			return l, true
		}
	}
	return language{}, false
}

// pistonStage is a stage of an execute response.
type pistonStage struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Output string `json:"output"`
	// Code is null when Signal is not, and the other way round.
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
	// Message and Status are isolate's words in Piston: the status is
	// null for a clean exit, else RE, SG, TO, OL or XX.
	Message *string `json:"message"`
	Status  *string `json:"status"`
	// CPUTime and WallTime are milliseconds, Memory bytes.
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
	Memory   int64   `json:"memory"`
}

type pistonResponse struct {
	Language string       `json:"language"`
	Version  string       `json:"version"`
	Run      *pistonStage `json:"run"`
	Compile  *pistonStage `json:"compile,omitempty"`
}

type pistonError struct {
	status  int
	message string
}

func (s *Server) pistonFail(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.rejected.WithLabelValues(code).Inc()
	writeJSON(w, status, map[string]string{"message": msg})
}

func (s *Server) pistonExecute(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		s.pistonFail(w, http.StatusUnsupportedMediaType, codeInvalid, "requests must be of type application/json")
		return
	}
	body, tooBig, err := s.readBody(w, r)
	if tooBig {
		s.pistonFail(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is over %d bytes", s.cfg.MaxBody))
		return
	}
	var fields map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(body, &fields)
	}
	if err != nil {
		s.pistonFail(w, http.StatusBadRequest, codeBadJSON, "the body is not a JSON object: "+err.Error())
		return
	}
	req, l, prof, perr := s.pistonRequest(fields)
	if perr != nil {
		s.pistonFail(w, perr.status, codeInvalid, perr.message)
		return
	}
	dec, err := req.decode(s.blobs, nil, s.caps())
	if err != nil {
		s.pistonFail(w, http.StatusBadRequest, codeInvalid, err.Error())
		return
	}
	// Answered from its Result, so kept whole (job.keep).
	j, aerr := s.submit(dec, tokenOf(r.Context()), l)
	if aerr != nil {
		setRetryAfter(w, aerr)
		s.pistonFail(w, aerr.Status, aerr.Code, aerr.Message)
		return
	}
	// Piston answers when the job is done; a client that leaves or a job
	// past the longest wait is cancelled, since no one will ask for it.
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MaxWait)
	defer cancel()
	done := j.wait(ctx)
	defer s.forget(j)
	if !done {
		s.cancel(j)
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"message": fmt.Sprintf("the job did not finish within %v, this server's longest wait; it was cancelled", s.cfg.MaxWait)})
		return
	}
	v := j.view()
	switch {
	case v.Error != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": v.Error.Message})
		return
	case v.State == Cancelled || v.Result == nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "the job was cancelled"})
		return
	}
	res := v.Result
	out := pistonResponse{Language: l.piston, Version: s.languageVersion(prof)}
	if prof.Compile != nil && len(res.Compile) > 0 {
		c := res.Compile[len(res.Compile)-1]
		o := stepOutcome(c)
		// jail keeps a compile step's two streams as one.
		o.stdout, o.stderr = nil, c.Output
		out.Compile = pistonStageOf(o)
	}
	switch {
	case res.Run != nil:
		out.Run = pistonStageOf(stepOutcome(res.Run))
	case out.Compile != nil:
		// As Piston does when the run stage never started.
		out.Run = out.Compile
	default:
		out.Run = pistonStageOf(outcome{verdict: verdict.XX, err: "the program did not run"})
	}
	writeJSON(w, http.StatusOK, out)
}

// pistonRequest checks an execute body in Piston's order and with its
// messages, and translates it into jail's task.
func (s *Server) pistonRequest(f map[string]json.RawMessage) (*TaskRequest, language, *profiles.Profile, *pistonError) {
	bad := func(format string, args ...any) (*TaskRequest, language, *profiles.Profile, *pistonError) {
		return nil, language{}, nil, &pistonError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
	}
	name, ok := jsonString(f["language"])
	if !ok || name == "" {
		return bad("language is required as a string")
	}
	version, ok := jsonString(f["version"])
	if !ok || version == "" {
		return bad("version is required as a string")
	}
	var files []map[string]json.RawMessage
	if err := json.Unmarshal(f["files"], &files); err != nil || files == nil {
		return bad("files is required as an array")
	}
	for i, file := range files {
		if _, ok := jsonString(file["content"]); !ok {
			return bad("files[%d].content is required as a string", i)
		}
	}
	l, ok := pistonLanguage(name)
	var prof *profiles.Profile
	if ok {
		p, err := profiles.Builtin(l.profile)
		ok = err == nil
		prof = p
	}
	if !ok {
		return bad("%s-%s runtime is unknown", name, version)
	}

	req := &TaskRequest{Profile: l.profile}
	entry := -1
	for i, file := range files {
		content, _ := jsonString(file["content"])
		fname, _ := jsonString(file["name"])
		if fname == "" {
			fname = fmt.Sprintf("file%d.code", i)
		}
		enc, _ := jsonString(file["encoding"])
		var d Data
		switch enc {
		case "base64":
			d.B64 = &content
		case "hex":
			b, err := hex.DecodeString(content)
			if err != nil {
				return bad("files[%d].content is not hex: %v", i, err)
			}
			b64 := base64.StdEncoding.EncodeToString(b)
			d.B64 = &b64
		default:
			// Piston reads any other encoding as utf8.
			d.Text = &content
			if entry < 0 {
				entry = i
			}
		}
		req.Files = append(req.Files, File{Name: fname, Data: d})
	}
	if entry < 0 {
		return bad("files must include at least one utf8 encoded file")
	}
	// The entry goes first and takes the profile's source name, unless a
	// file has that name: that one is what the profile runs.
	req.Files[0], req.Files[entry] = req.Files[entry], req.Files[0]
	named := false
	for _, file := range req.Files {
		named = named || file.Name == prof.SourceName
	}
	if !named && prof.SourceName != "" {
		req.Files[0].Name = prof.SourceName
	}

	run, compile := s.maxima(prof)
	req.Limits, req.CompileLimits = Limits{}, Limits{}
	for _, c := range []struct {
		constraint string
		limit      string
		unit       string
	}{{"memory_limit", "mem", "bytes"}, {"timeout", "wall", "ms"}, {"cpu_time", "time", "ms"}} {
		for _, stage := range []string{"compile", "run"} {
			name := stage + "_" + c.constraint
			raw, given := f[name]
			if !given || string(raw) == "null" {
				continue
			}
			var v float64
			if err := json.Unmarshal(raw, &v); err != nil {
				return bad("If specified, %s must be a number", name)
			}
			// A profile without a compile step has no compile limits
			// to hold a compile constraint to.
			if v == 0 || (c.unit == "bytes" && v == -1) || (stage == "compile" && prof.Compile == nil) {
				continue
			}
			max, dst := run, req.Limits
			if stage == "compile" {
				max, dst = compile, req.CompileLimits
			}
			field, _ := limits.FieldByName(c.limit)
			if field.IsSet(max) {
				configured := pistonUnits(field.Value(max))
				if v > configured {
					return bad("%s cannot exceed the configured limit of %s", name, formatNumber(configured))
				}
			}
			if v < 0 {
				return bad("%s must be non-negative", name)
			}
			if c.unit == "ms" {
				dst[c.limit] = LimitValue(formatNumber(v/1000) + "s")
			} else {
				dst[c.limit] = LimitValue(formatNumber(math.Ceil(v)))
			}
		}
	}

	if raw, given := f["args"]; given && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Args); err != nil {
			return bad("args must be an array of strings")
		}
	}
	stdin := ""
	if raw, given := f["stdin"]; given && string(raw) != "null" {
		if stdin, ok = jsonString(raw); !ok {
			return bad("stdin must be a string")
		}
	}
	// Piston ends stdin with a newline when it has none, and programs
	// written against it read a last line that has one.
	if !strings.HasSuffix(stdin, "\n") {
		stdin += "\n"
	}
	req.Stdin = &Data{Text: &stdin}
	return req, l, prof, nil
}

// pistonUnits is a limit's maximum in Piston's units: bytes or milliseconds.
func pistonUnits(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case time.Duration:
		return float64(v) / float64(time.Millisecond)
	}
	return 0
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// jsonString reads a JSON string; false for anything else, absent included.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// pistonStageOf tells a run as Piston's isolate does.
func pistonStageOf(o outcome) *pistonStage {
	st := &pistonStage{Stdout: string(excerptBytes(o.stdout)), Stderr: string(excerptBytes(o.stderr)),
		CPUTime: ms(time.Duration(o.cpu)), WallTime: ms(time.Duration(o.wall)), Memory: o.memory}
	st.Output = st.Stdout + st.Stderr
	status := ""
	switch o.verdict {
	case verdict.OK, verdict.WA, verdict.PE, verdict.PT:
	case verdict.RE:
		status = "RE"
	case verdict.TLE:
		status = "TO"
	case verdict.OLE:
		status = "OL"
	case verdict.SIG, verdict.SV, verdict.MLE:
		status = "SG"
	case verdict.CE:
		// A failed compile: what ended it is in the run's facts.
		switch {
		case o.limitHit == "wall" || o.limitHit == "time":
			status = "TO"
		case o.signal != "":
			status = "SG"
		default:
			status = "RE"
		}
	default:
		status = "XX"
	}
	switch {
	case status == "TO" || status == "OL":
		// Piston reports the kill behind a limit as SIGKILL.
		sig := "SIGKILL"
		st.Signal = &sig
	case o.signal != "" && status != "XX":
		sig := o.signal
		st.Signal = &sig
	default:
		code := o.exitCode
		st.Code = &code
	}
	if status != "" {
		st.Status = &status
	}
	msg := o.reason
	switch {
	case o.err != "":
		msg = o.err
	case msg != "":
	case status == "RE":
		msg = fmt.Sprintf("Exited with error status %d", o.exitCode)
	case status == "SG":
		msg = fmt.Sprintf("Caught fatal signal %d", unix.SignalNum(o.signal))
	case status == "TO":
		msg = "Time limit exceeded"
	case status == "OL":
		msg = "Output limit exceeded"
	case status == "XX":
		msg = "Internal error of the sandbox"
	}
	if msg != "" {
		st.Message = &msg
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
