package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"jail/judge"
	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

// Judge0 CE's API (judge0/judge0: docs/api, app/controllers/
// submissions_controller.rb): POST /submissions (?wait=true,
// ?base64_encoded=true, ?fields=), GET /submissions/{token}, POST and GET
// /submissions/batch, GET /languages, /languages/{id} and /statuses, with
// Judge0's attribute names, units (seconds, kilobytes), status ids and
// error shapes: 422 {"attribute": ["message", ...]} for a submission it
// refuses, 400/503 {"error": "..."} otherwise. A token is the job's id.
//
// expected_output becomes one test with jail's "lines" check: Judge0
// accepts when both sides are equal once every line loses its trailing
// whitespace and the text its trailing empty lines (isolate_job.rb's
// strip), which is what lines compares; lines' PE is Judge0's Wrong Answer.
//
// Refused with Judge0's own messages, as a Judge0 host with the feature
// switched off refuses: compiler_options, callback_url, additional_files
// (so language 89, multi-file programs), enable_network unless the server
// allows the network, enable_per_process_and_thread_time_limit and
// _memory_limit, redirect_stderr_to_stdout (jail keeps the streams apart),
// number_of_runs above 1 and stack_limit (jail sets no stack limit of its
// own). Limits not given are the profile's, not Judge0's defaults; their
// maxima are the server's. wait=true waits at most --max-wait, then answers
// with the submission as it is (In Queue or Processing). stdout and stderr
// are kept to 1 MiB each (judge.RunOutput), compile_output to 64 KiB
// (judge.CompileExcerpt). DELETE
// /submissions/{token}, /about, /config_info and /system_info are not
// served.

// judge0Submission is what a job keeps of its Judge0 request, to show it.
type judge0Submission struct {
	languageID      int
	source          []byte
	stdin, expected *[]byte
	args            string
	limits          limits.Spec // the run's, the profile's under the request's
	network         bool
}

// judge0Statuses are Judge0's status ids and descriptions.
var judge0Statuses = []struct {
	ID          int    `json:"id"`
	Description string `json:"description"`
}{
	{1, "In Queue"}, {2, "Processing"}, {3, "Accepted"}, {4, "Wrong Answer"}, {5, "Time Limit Exceeded"},
	{6, "Compilation Error"}, {7, "Runtime Error (SIGSEGV)"}, {8, "Runtime Error (SIGXFSZ)"},
	{9, "Runtime Error (SIGFPE)"}, {10, "Runtime Error (SIGABRT)"}, {11, "Runtime Error (NZEC)"},
	{12, "Runtime Error (Other)"}, {13, "Internal Error"}, {14, "Exec Format Error"},
}

func judge0Status(id int) map[string]any {
	return map[string]any{"id": id, "description": judge0Statuses[id-1].Description}
}

// judge0StatusOf maps a run's verdict to Judge0's status id. Judge0 has no
// memory or seccomp status: isolate reports those as the signal that ended
// the program, so they are Runtime Error (Other); an output cut is the
// SIGXFSZ isolate's file size limit sends.
func judge0StatusOf(o outcome) int {
	switch o.verdict {
	case verdict.OK, verdict.PT:
		return 3
	case verdict.WA, verdict.PE:
		return 4
	case verdict.TLE:
		return 5
	case verdict.CE:
		return 6
	case verdict.OLE:
		return 8
	case verdict.RE:
		return 11
	case verdict.SIG:
		// Status.find_runtime_error_by_status_code.
		switch o.signal {
		case "SIGSEGV":
			return 7
		case "SIGXFSZ":
			return 8
		case "SIGFPE":
			return 9
		case "SIGABRT":
			return 10
		}
		return 12
	case verdict.MLE, verdict.SV:
		return 12
	}
	// PROG that could not be executed (126) or found (127) is Judge0's
	// Exec Format Error; any other failure of the sandbox is Internal.
	if o.exitCode == sandbox.ExitCannotExec || o.exitCode == sandbox.ExitNotFound {
		return 14
	}
	return 13
}

// judge0Language finds a language by any of its Judge0 ids.
func judge0LanguageByID(id int) (language, bool) {
	for _, l := range languages {
		if slices.Contains(l.judge0, id) {
			return l, true
		}
	}
	return language{}, false
}

func (s *Server) judge0LanguageName(l language) string {
	p, err := profiles.Builtin(l.profile)
	if err != nil {
		return ""
	}
	v := s.languageVersion(p)
	if v == "unknown" {
		v = "version unknown"
	}
	return fmt.Sprintf(l.judge0Name, v)
}

func (s *Server) judge0Languages(w http.ResponseWriter, _ *http.Request) {
	out := []map[string]any{}
	for _, l := range languages {
		out = append(out, map[string]any{"id": l.judge0[0], "name": s.judge0LanguageName(l)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) judge0Language(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	l, ok := judge0LanguageByID(id)
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("language with id %s doesn't exist", r.PathValue("id"))})
		return
	}
	p, _ := profiles.Builtin(l.profile)
	var compile any
	if p.Compile != nil {
		compile = strings.Join(p.Compile.Command, " ")
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": s.judge0LanguageName(l), "is_archived": false,
		"source_file": p.SourceName, "compile_cmd": compile, "run_cmd": strings.Join(p.Run.Command, " ")})
}

func (s *Server) judge0Statuses(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, judge0Statuses)
}

// judge0Errors are a refused submission's messages by attribute, as
// Rails' model errors.
type judge0Errors map[string][]string

func (e judge0Errors) add(attr, format string, args ...any) {
	e[attr] = append(e[attr], fmt.Sprintf(format, args...))
}

func (s *Server) judge0Error(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.rejected.WithLabelValues(code).Inc()
	writeJSON(w, status, map[string]string{"error": msg})
}

// judge0Query is a request's query: base64_encoded, wait and fields.
type judge0Query struct {
	b64, wait bool
	fields    []string
}

// judge0Fields are the attributes a submission shows; the first eight are
// the default, as Judge0's SubmissionSerializer.default_fields.
var judge0Fields = []string{"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status",
	"source_code", "language_id", "language", "compiler_options", "command_line_arguments", "stdin", "expected_output",
	"cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit", "max_file_size",
	"number_of_runs", "redirect_stderr_to_stdout", "callback_url", "additional_files", "enable_network",
	"exit_code", "exit_signal", "status_id", "created_at", "finished_at", "wall_time"}

func (s *Server) judge0Query(w http.ResponseWriter, r *http.Request) (judge0Query, bool) {
	q := r.URL.Query()
	out := judge0Query{b64: q.Get("base64_encoded") == "true", wait: q.Get("wait") == "true", fields: judge0Fields[:8]}
	switch f := q.Get("fields"); f {
	case "":
	case "*":
		out.fields = judge0Fields
	default:
		out.fields = nil
		var invalid []string
		for _, name := range strings.Split(f, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(judge0Fields, name) {
				invalid = append(invalid, name)
			}
			out.fields = append(out.fields, name)
		}
		if len(invalid) > 0 {
			s.judge0Error(w, http.StatusBadRequest, codeInvalid, "invalid fields: ["+strings.Join(invalid, ", ")+"]")
			return out, false
		}
	}
	return out, true
}

func (s *Server) judge0Create(w http.ResponseWriter, r *http.Request) {
	q, ok := s.judge0Query(w, r)
	if !ok {
		return
	}
	raw, ok := s.judge0Body(w, r)
	if !ok {
		return
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		s.judge0Error(w, http.StatusBadRequest, codeBadJSON, "the body is not a JSON submission: "+err.Error())
		return
	}
	j, errs, aerr := s.judge0Submit(f, q.b64, tokenOf(r.Context()))
	switch {
	case aerr != nil:
		s.judge0Refused(w, aerr)
		return
	case errs != nil:
		s.metrics.rejected.WithLabelValues(codeInvalid).Inc()
		writeJSON(w, http.StatusUnprocessableEntity, errs)
		return
	}
	if !q.wait {
		writeJSON(w, http.StatusCreated, map[string]string{"token": j.id})
		return
	}
	// Past the longest wait the submission is shown as it is, In Queue
	// or Processing, for the client to poll by its token.
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MaxWait)
	defer cancel()
	j.wait(ctx)
	sub, ok := s.judge0View(j, q)
	if !ok {
		writeJSON(w, http.StatusCreated, map[string]string{"token": j.id, "error": judge0NotUTF8("this submission")})
		return
	}
	writeJSON(w, http.StatusCreated, sub)
}

func judge0NotUTF8(what string) string {
	return "some attributes for " + what + " cannot be converted to UTF-8, use base64_encoded=true query parameter"
}

func (s *Server) judge0Refused(w http.ResponseWriter, aerr *apiError) {
	if aerr.Field == "network" {
		// The policy refused the network: Judge0 says so of the field.
		s.metrics.rejected.WithLabelValues(aerr.Code).Inc()
		writeJSON(w, http.StatusUnprocessableEntity, judge0Errors{"enable_network": {"enabling network is not allowed"}})
		return
	}
	setRetryAfter(w, aerr)
	msg := aerr.Message
	if aerr.Code == codeQueueFull {
		// Judge0's words for a full queue.
		msg = "queue is full"
	}
	status := aerr.Status
	if status == http.StatusTooManyRequests {
		status = http.StatusServiceUnavailable
	}
	s.judge0Error(w, status, aerr.Code, msg)
}

func (s *Server) judge0Body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, tooBig, err := s.readBody(w, r)
	switch {
	case tooBig:
		s.judge0Error(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is over %d bytes", s.cfg.MaxBody))
		return nil, false
	case err != nil:
		s.judge0Error(w, http.StatusBadRequest, codeBadJSON, "reading the body: "+err.Error())
		return nil, false
	}
	return b, true
}

// judge0BatchMax is Judge0's default MAX_SUBMISSION_BATCH_SIZE.
const judge0BatchMax = 20

func (s *Server) judge0BatchCreate(w http.ResponseWriter, r *http.Request) {
	q, ok := s.judge0Query(w, r)
	if !ok {
		return
	}
	raw, ok := s.judge0Body(w, r)
	if !ok {
		return
	}
	var body struct {
		Submissions []map[string]json.RawMessage `json:"submissions"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		s.judge0Error(w, http.StatusBadRequest, codeBadJSON, "the body is not a JSON batch: "+err.Error())
		return
	}
	switch n := len(body.Submissions); {
	case n > judge0BatchMax:
		s.judge0Error(w, http.StatusBadRequest, codeInvalid, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", judge0BatchMax))
		return
	case n == 0:
		s.judge0Error(w, http.StatusBadRequest, codeInvalid, "there should be at least one submission in a batch")
		return
	case s.sched.length()+n > s.cfg.Queue:
		// As Judge0, the whole batch or none of it.
		s.judge0Error(w, http.StatusServiceUnavailable, codeQueueFull, "queue is full")
		return
	}
	out := make([]any, 0, len(body.Submissions))
	created := false
	for _, f := range body.Submissions {
		j, errs, aerr := s.judge0Submit(f, q.b64, tokenOf(r.Context()))
		switch {
		case aerr != nil:
			out = append(out, map[string]string{"error": aerr.Message})
		case errs != nil:
			out = append(out, errs)
		default:
			out = append(out, map[string]string{"token": j.id})
			created = true
		}
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, out)
}

func (s *Server) judge0BatchShow(w http.ResponseWriter, r *http.Request) {
	q, ok := s.judge0Query(w, r)
	if !ok {
		return
	}
	var tokens []string
	for _, t := range strings.Split(strings.TrimSpace(r.URL.Query().Get("tokens")), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	switch {
	case len(tokens) > judge0BatchMax:
		s.judge0Error(w, http.StatusBadRequest, codeInvalid, fmt.Sprintf("number of submissions in a batch should be less than or equal to %d", judge0BatchMax))
		return
	case len(tokens) == 0:
		s.judge0Error(w, http.StatusBadRequest, codeInvalid, "there should be at least one submission in a batch")
		return
	}
	out := make([]any, 0, len(tokens))
	for _, t := range tokens {
		j := s.judge0Job(r.Context(), t)
		if j == nil {
			out = append(out, nil)
			continue
		}
		sub, ok := s.judge0View(j, q)
		if !ok {
			s.judge0Error(w, http.StatusBadRequest, codeInvalid, judge0NotUTF8("one or more submissions"))
			return
		}
		out = append(out, sub)
	}
	writeJSON(w, http.StatusOK, map[string]any{"submissions": out})
}

func (s *Server) judge0Show(w http.ResponseWriter, r *http.Request) {
	q, ok := s.judge0Query(w, r)
	if !ok {
		return
	}
	j := s.judge0Job(r.Context(), r.PathValue("token"))
	if j == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no submission %q: it never was, or it was dropped after %v", r.PathValue("token"), s.cfg.Keep)})
		return
	}
	sub, ok := s.judge0View(j, q)
	if !ok {
		s.judge0Error(w, http.StatusBadRequest, codeInvalid, judge0NotUTF8("this submission"))
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

// judge0Job is the request's client's job of a Judge0 token, if it came
// through Judge0's API.
func (s *Server) judge0Job(ctx context.Context, token string) *job {
	j := s.lookup(ctx, token)
	if j == nil {
		return nil
	}
	if _, ok := j.compat.(*judge0Submission); !ok {
		return nil
	}
	return j
}

// judge0Submit checks one submission as Judge0's model validates it,
// translates it into a task and queues it. errs are the refusals by
// attribute (422); aerr is the server's own refusal (full, draining).
func (s *Server) judge0Submit(f map[string]json.RawMessage, b64 bool, tok *Token) (*job, judge0Errors, *apiError) {
	errs := judge0Errors{}
	sub := &judge0Submission{}
	textAttr := func(name string) (*[]byte, bool) {
		raw, given := f[name]
		if !given || string(raw) == "null" {
			return nil, true
		}
		v, ok := jsonString(raw)
		if !ok {
			errs.add(name, "is not a string")
			return nil, false
		}
		b := []byte(v)
		if b64 {
			if b, ok = judge0Decode(v); !ok {
				errs.add(name, "is not valid base64")
				return nil, false
			}
		}
		return &b, true
	}
	if src, ok := textAttr("source_code"); ok && (src == nil || len(*src) == 0) {
		errs.add("source_code", "can't be blank")
	} else if src != nil {
		sub.source = *src
	}
	sub.stdin, _ = textAttr("stdin")
	sub.expected, _ = textAttr("expected_output")

	var l language
	var prof *profiles.Profile
	switch id, given, ok := judge0Number(f["language_id"]); {
	case !given:
		errs.add("language_id", "can't be blank")
	case !ok:
		errs.add("language_id", "is not a number")
	default:
		sub.languageID = int(id)
		var found bool
		if l, found = judge0LanguageByID(sub.languageID); found && float64(sub.languageID) == id {
			prof, _ = profiles.Builtin(l.profile)
		}
		if prof == nil {
			errs.add("language_id", "language with id %s doesn't exist", formatNumber(id))
		}
	}

	for name, msg := range map[string]string{"compiler_options": "setting compiler options is not allowed",
		"callback_url": "setting callback is not allowed", "additional_files": "setting additional files is not allowed"} {
		if v, _ := jsonString(f[name]); strings.TrimSpace(v) != "" {
			errs.add(name, "%s", msg)
		}
	}
	for _, name := range []string{"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit", "redirect_stderr_to_stdout"} {
		if judge0True(f[name]) {
			errs.add(name, "this option cannot be enabled")
		}
	}
	// Whether it may have the network is the policy's to say (police),
	// as for every task: the server's --allow-net or the token's network.
	sub.network = judge0True(f["enable_network"])
	if _, given, _ := judge0Number(f["stack_limit"]); given {
		errs.add("stack_limit", "is not supported: jail sets no stack limit of its own")
	}
	if n, given, ok := judge0Number(f["number_of_runs"]); given {
		switch {
		case !ok:
			errs.add("number_of_runs", "is not a number")
		case n <= 0:
			errs.add("number_of_runs", "must be greater than 0")
		case n > 1:
			errs.add("number_of_runs", "must be less than or equal to 1")
		}
	}
	if raw, given := f["command_line_arguments"]; given && string(raw) != "null" {
		v, ok := jsonString(raw)
		switch {
		case !ok:
			errs.add("command_line_arguments", "is not a string")
		case len(v) > 512:
			errs.add("command_line_arguments", "is too long (maximum is 512 characters)")
		}
		sub.args = v
	}

	var max limits.Spec
	if prof != nil {
		max, _ = s.maxima(prof)
	}
	requested := Limits{}
	for _, c := range []struct {
		attr, limit string
		min         float64
		kb          bool
	}{{"cpu_time_limit", "time", 0, false}, {"cpu_extra_time", "extra_time", 0, false}, {"wall_time_limit", "wall", 1, false},
		{"memory_limit", "mem", 2048, true}, {"max_processes_and_or_threads", "pids", 1, false}, {"max_file_size", "fsize", 0, true}} {
		v, given, ok := judge0Number(f[c.attr])
		if !given {
			continue
		}
		if !ok {
			errs.add(c.attr, "is not a number")
			continue
		}
		if v < c.min {
			errs.add(c.attr, "must be greater than or equal to %s", formatNumber(c.min))
			continue
		}
		field, _ := limits.FieldByName(c.limit)
		if field.IsSet(max) {
			if m := judge0Units(field.Value(max)); v > m {
				errs.add(c.attr, "must be less than or equal to %s", formatNumber(m))
				continue
			}
		}
		if v == 0 {
			continue
		}
		switch {
		case c.kb:
			requested[c.limit] = LimitValue(strconv.FormatInt(int64(v*1024), 10))
		case c.limit == "pids":
			requested[c.limit] = LimitValue(strconv.FormatInt(int64(v), 10))
		default:
			requested[c.limit] = LimitValue(formatNumber(v) + "s")
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}

	req := TaskRequest{Profile: l.profile, Limits: requested, Args: strings.Fields(sub.args)}
	src := string(sub.source)
	req.Files = []File{{Name: prof.SourceName, Data: Data{Text: &src}}}
	if !utf8.Valid(sub.source) {
		b := base64.StdEncoding.EncodeToString(sub.source)
		req.Files[0].Data = Data{B64: &b}
	}
	in := base64.StdEncoding.EncodeToString(deref(sub.stdin))
	if sub.expected != nil {
		want := base64.StdEncoding.EncodeToString(*sub.expected)
		req.Tests = []Test{{Name: "1", Stdin: Data{B64: &in}, Expect: &Data{B64: &want}}}
		req.Check = "lines"
	} else {
		req.Stdin = &Data{B64: &in}
	}
	if sub.network {
		req.Network = "host"
	}
	dec, err := req.decode(s.blobs, nil, s.caps())
	if err != nil {
		return nil, judge0Errors{"base": {err.Error()}}, nil
	}
	sub.limits = dec.task.Program.Profile.Run.Limits.Spec.Merge(dec.limits)
	// A submission's one test is its run: Judge0 returns all of stdout.
	dec.task.OutputMax = judge.RunOutput
	j, aerr := s.submit(dec, tok, sub)
	return j, nil, aerr
}

func deref(b *[]byte) []byte {
	if b == nil {
		return nil
	}
	return *b
}

// judge0Decode reads base64 as Ruby's decode64 does: line breaks and
// missing padding are fine.
func judge0Decode(v string) ([]byte, bool) {
	v = strings.NewReplacer("\n", "", "\r", "").Replace(v)
	if b, err := base64.StdEncoding.DecodeString(v); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
	return b, err == nil
}

// judge0Number reads a number given as a JSON number or a numeric string,
// as Rails does ("language_id": "4").
func judge0Number(raw json.RawMessage) (v float64, given, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, false
	}
	if s, isString := jsonString(raw); isString {
		if strings.TrimSpace(s) == "" {
			return 0, false, false
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return v, true, err == nil
	}
	err := json.Unmarshal(raw, &v)
	return v, true, err == nil
}

func judge0True(raw json.RawMessage) bool {
	s, _ := jsonString(raw)
	return string(raw) == "true" || s == "true"
}

// judge0Units is a limit in Judge0's units: seconds or kilobytes (pids as
// they are).
func judge0Units(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v) / 1024
	case time.Duration:
		return v.Seconds()
	}
	return 0
}

// judge0View is a job as Judge0 shows a submission, with the fields asked
// for; false when a text is not UTF-8 and base64 was not asked for.
func (s *Server) judge0View(j *job, q judge0Query) (map[string]any, bool) {
	sub := j.compat.(*judge0Submission)
	j.mu.Lock()
	v := j.viewLocked()
	created, finished := j.created, j.finished
	j.mu.Unlock()

	all := map[string]any{"token": j.id, "time": nil, "wall_time": nil, "memory": nil, "stdout": nil, "stderr": nil,
		"compile_output": nil, "message": nil, "exit_code": nil, "exit_signal": nil,
		"language_id": sub.languageID, "compiler_options": nil, "number_of_runs": 1,
		"enable_per_process_and_thread_time_limit": false, "enable_per_process_and_thread_memory_limit": false,
		"redirect_stderr_to_stdout": false, "callback_url": nil, "additional_files": nil, "enable_network": sub.network,
		"stack_limit": nil, "created_at": created.UTC().Format(time.RFC3339Nano), "finished_at": nil}
	if l, ok := judge0LanguageByID(sub.languageID); ok {
		all["language"] = map[string]any{"id": sub.languageID, "name": s.judge0LanguageName(l)}
	}
	if sub.args != "" {
		all["command_line_arguments"] = sub.args
	} else {
		all["command_line_arguments"] = nil
	}
	for attr, f := range map[string]string{"cpu_time_limit": "time", "cpu_extra_time": "extra_time", "wall_time_limit": "wall",
		"memory_limit": "mem", "max_processes_and_or_threads": "pids", "max_file_size": "fsize"} {
		field, _ := limits.FieldByName(f)
		all[attr] = nil
		if field.IsSet(sub.limits) {
			if f == "pids" {
				all[attr] = field.Value(sub.limits)
			} else {
				all[attr] = judge0Units(field.Value(sub.limits))
			}
		}
	}
	texts := map[string][]byte{"source_code": sub.source}
	if sub.stdin != nil {
		texts["stdin"] = *sub.stdin
	}
	if sub.expected != nil {
		texts["expected_output"] = *sub.expected
	}

	status := 1
	switch {
	case v.State == Queued:
	case v.State == Running:
		status = 2
	case v.Error != nil:
		status, all["message"] = 13, v.Error.Message
	case v.State == Cancelled || v.Result == nil:
		status, all["message"] = 13, "the submission was cancelled"
	default:
		status = judge0Result(v.Result, all, texts)
	}
	if !finished.IsZero() {
		all["finished_at"] = finished.UTC().Format(time.RFC3339Nano)
	}
	all["status"] = judge0Status(status)
	all["status_id"] = status
	if m, ok := all["message"].(string); ok {
		texts["message"] = []byte(m)
	}

	out := map[string]any{}
	for _, name := range q.fields {
		val := all[name]
		if b, isText := texts[name]; isText {
			switch {
			case q.b64:
				val = base64.StdEncoding.EncodeToString(b)
			case !utf8.Valid(b):
				return nil, false
			default:
				val = string(b)
			}
		}
		out[name] = val
	}
	return out, true
}

// judge0Result fills in what a finished task says and returns its status.
// texts gets the outputs, which base64_encoded may encode.
func judge0Result(res *judge.Result, all map[string]any, texts map[string][]byte) int {
	var compileOut []byte
	if n := len(res.Compile); n > 0 {
		c := res.Compile[n-1]
		compileOut = excerptBytes(c.Output)
		if res.Verdict == verdict.CE && (c.LimitHit == "time" || c.LimitHit == "wall") {
			compileOut = []byte("Compilation time limit exceeded.")
		}
	}
	if len(compileOut) > 0 {
		texts["compile_output"] = compileOut
	}
	if res.Verdict == verdict.CE {
		return 6
	}
	var o outcome
	switch {
	case len(res.Tests) > 0:
		o = testOutcome(&res.Tests[0])
	case res.Run != nil:
		o = stepOutcome(res.Run)
	default:
		all["message"] = "the program did not run"
		return 13
	}
	status := judge0StatusOf(o)
	for name, e := range map[string]*judge.Excerpt{"stdout": o.stdout, "stderr": o.stderr} {
		// Judge0 shows an empty stream as null.
		if b := excerptBytes(e); len(b) > 0 {
			texts[name] = b
		}
	}
	all["time"] = fmt.Sprintf("%.3f", time.Duration(o.cpu).Seconds())
	all["wall_time"] = fmt.Sprintf("%.3f", time.Duration(o.wall).Seconds())
	all["memory"] = o.memory / 1024
	all["exit_code"] = o.exitCode
	if o.signal != "" {
		all["exit_signal"] = int(unix.SignalNum(o.signal))
	}
	msg := o.reason
	switch {
	case o.err != "":
		msg = o.err
	case msg != "":
	case status == 4:
		msg = o.check
	case status == 11:
		msg = fmt.Sprintf("Exited with error status %d", o.exitCode)
	case o.signal != "":
		// isolate's words, which Judge0 passes on.
		msg = fmt.Sprintf("Caught fatal signal %d", unix.SignalNum(o.signal))
	}
	if msg != "" {
		all["message"] = msg
	}
	return status
}
