package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"jail/field"
	"jail/judge"
	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
)

// TaskRequest is the body of POST /v1/runs: a judge task, as `jail judge`
// defines it, in JSON.
type TaskRequest struct {
	// Profile names a built-in profile; Steps replace its steps (every
	// step but the last compiles, once; the last runs).
	Profile string        `json:"profile,omitempty"`
	Steps   []StepRequest `json:"steps,omitempty"`
	Files   []File        `json:"files,omitempty"`
	// Stdin is the one input of a task without tests.
	Stdin *Data `json:"stdin,omitempty"`
	// Args come after the run step's command.
	Args []string          `json:"args,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// Limits are each test's (or the one run's), CompileLimits the compile
	// steps'; names and units as `jail run`'s ("mem": "256M").
	Limits        Limits `json:"limits,omitempty"`
	CompileLimits Limits `json:"compile_limits,omitempty"`
	Tests         []Test `json:"tests,omitempty"`
	// Check is a built-in checker (exact, lines, tokens, float:EPS);
	// Checker and Interactor are programs, as files in a language whose
	// extension names it.
	Check      string `json:"check,omitempty"`
	Checker    *File  `json:"checker,omitempty"`
	Interactor *File  `json:"interactor,omitempty"`
	StopOnFail bool   `json:"stop_on_fail,omitempty"`
	Transcript bool   `json:"transcript,omitempty"`
	// Network is "none" (the default) or "host", when the token may.
	Network string `json:"network,omitempty"`
	// Collect names files, relative to the work directory, to copy out
	// after the one run of a task without tests.
	Collect []string `json:"collect,omitempty"`
	// Attach makes the one run's stdin a pipe that WebSocket clients of
	// /v1/runs/{id}/ws write to, for programs that talk to a person.
	Attach bool `json:"attach,omitempty"`
	// TTY runs an attached task on a terminal, which the WebSocket's
	// resize messages size; its output is one stream.
	TTY bool `json:"tty,omitempty"`
	// Image is an image of the server's store (jail image ls) to run in:
	// its layers are the root, its Env and User hold; the task's steps or
	// profile give the programs, and its files the working directory, so
	// the image's Entrypoint, Cmd and WorkingDir do not.
	Image string `json:"image,omitempty"`
}

// ImageHolder holds a store's image for the task that names it, until
// release.
type ImageHolder func(name string) (img *profiles.Image, release func(), err error)

// StepRequest is one raw step.
type StepRequest struct {
	Argv   []string `json:"argv"`
	Limits Limits   `json:"limits,omitempty"`
}

// File is a named input: a source, a header, data.
type File struct {
	Name string `json:"name"`
	Data
}

// Data is content given inline as text or base64, or by the digest of a
// blob uploaded before; exactly one of them.
type Data struct {
	Text *string `json:"text,omitempty"`
	B64  *string `json:"b64,omitempty"`
	Ref  *string `json:"ref,omitempty"`
}

// Test is one test: its input and the expected output.
type Test struct {
	Name   string `json:"name"`
	Stdin  Data   `json:"stdin"`
	Expect *Data  `json:"expect,omitempty"`
}

// Limits are limits by their descriptor names; a value is a string in
// `jail run`'s units ("256M", "1.5s", "50%") or a bare number (bytes,
// seconds, a count).
type Limits map[string]LimitValue

// LimitValue is one limit's text, from a JSON string or number.
type LimitValue string

func (v *LimitValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = LimitValue(s)
		return nil
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		return errors.New("a limit is a string such as \"256M\" or a number")
	}
	*v = LimitValue(n.String())
	return nil
}

// spec parses the limits; errors name the field under prefix.
func (l Limits) spec(prefix string) (limits.Spec, error) {
	var s limits.Spec
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(l)) {
		f, ok := limits.FieldByName(name)
		if !ok {
			errs = append(errs, field.Errorf(prefix+"."+name, "unknown limit: use one of %s", strings.Join(limitNames(), ", ")))
			continue
		}
		if err := f.Set(&s, string(l[name])); err != nil {
			errs = append(errs, field.Wrap(prefix+"."+name, "", err))
		}
	}
	return s, errors.Join(errs...)
}

func limitNames() []string {
	var out []string
	for _, f := range limits.Fields {
		out = append(out, f.Name)
	}
	return out
}

// Caps bound what one request may carry.
type Caps struct {
	Files int   // files per task, tests included
	Bytes int64 // the request body
}

// blobResolver finds the blobs a task names by digest.
type blobResolver interface {
	// has says why ref names no blob, if it does not; the task is a
	// use of it.
	has(ref string) error
	// place puts the blob's content at dst, which then no longer
	// depends on the blob: the store may evict it.
	place(ref, dst string) error
}

// decoded is a request turned into what the judge takes, with the
// directory holding its tests and data, which the caller removes.
type decoded struct {
	task judge.Task
	dir  string
	// network is the network the task asked for.
	network sandbox.Net
	// limits and compile are the task's limits as given, for the policy.
	limits, compile limits.Spec
	profile         string
	// stdinW is the write end of an attached stdin.
	stdinW *os.File
	// releaseImage lets the store remove the task's image again.
	releaseImage func()
}

// decode checks a request and builds the judge's task; every problem is a
// *field.Error naming the JSON field.
// taskSettings are a task's settings on top of its profile: the
// environment, limits and network it asked for. A request that asks for
// none gets taskSettings(nil, limits.Spec{}, sandbox.NetNone), which is
// what the pools' sandboxes are made for.
func taskSettings(env []string, lim limits.Spec, network sandbox.Net) profiles.Overrides {
	return profiles.Overrides{Env: env, Limits: lim, Net: &network}
}

func (req *TaskRequest) decode(blobs blobResolver, images ImageHolder, caps Caps) (*decoded, error) {
	var errs []error
	bad := func(name, format string, args ...any) { errs = append(errs, field.Errorf(name, format, args...)) }
	d := &decoded{network: sandbox.NetNone}

	var prof *profiles.Profile
	switch {
	case req.Profile != "":
		p, err := profiles.Builtin(req.Profile)
		if err != nil {
			bad("profile", "%q is not a profile: use one of %s (GET /v1/profiles)", req.Profile, strings.Join(profiles.BuiltinNames(), ", "))
		}
		prof, d.profile = p, req.Profile
	case len(req.Steps) == 0:
		bad("profile", "give a profile (GET /v1/profiles) or steps")
	default:
		d.profile = "steps"
	}
	if n := len(req.Files) + len(req.Tests); n > caps.Files {
		bad("files", "%d files and tests: at most %d per task", n, caps.Files)
	}
	var err error
	if d.limits, err = req.Limits.spec("limits"); err != nil {
		errs = append(errs, err)
	}
	if d.compile, err = req.CompileLimits.spec("compile_limits"); err != nil {
		errs = append(errs, err)
	}
	switch req.Network {
	case "", "none":
	case "host":
		d.network = sandbox.NetHost
	default:
		bad("network", "%q: use none or host", req.Network)
	}
	var steps []judge.Step
	for i, st := range req.Steps {
		lim, err := st.Limits.spec(fmt.Sprintf("steps[%d].limits", i))
		if err != nil {
			errs = append(errs, err)
		}
		if len(st.Argv) == 0 {
			bad(fmt.Sprintf("steps[%d].argv", i), "empty: give the step's command")
		}
		steps = append(steps, judge.Step{Argv: st.Argv, Limits: lim})
	}
	var files []judge.File
	// refs are the files given by a blob, placed once the task has its
	// directory.
	type ref struct {
		file       int
		field, ref string
	}
	var refs []ref
	seen := map[string]bool{}
	for i, f := range req.Files {
		name := fmt.Sprintf("files[%d]", i)
		if err := judge.CheckFileName(f.Name); err != nil {
			errs = append(errs, field.Wrap(name+".name", "", err))
			continue
		}
		if seen[f.Name] {
			bad(name+".name", "%q is given twice", f.Name)
			continue
		}
		seen[f.Name] = true
		b, r, err := f.Data.content(name, blobs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r != "" {
			refs = append(refs, ref{len(files), name + ".ref", r})
		}
		files = append(files, judge.File{Name: f.Name, Data: b})
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(req.Env)) {
		env = append(env, k+"="+req.Env[k])
	}
	check, err := judge.ParseCheck(orDefault(req.Check, "tokens"))
	if err != nil {
		errs = append(errs, field.Wrap("check", "", err))
	}
	if req.Check != "" && (req.Checker != nil || req.Interactor != nil) {
		bad("check", "give a built-in check or a checker or an interactor, not two")
	}
	if len(req.Tests) > 0 && req.Stdin != nil {
		bad("stdin", "give either stdin or tests, not both")
	}
	for i, name := range req.Collect {
		if err := judge.CheckCollectName(name); err != nil {
			errs = append(errs, field.Wrap(fmt.Sprintf("collect[%d]", i), "", err))
		}
	}
	if len(req.Collect) > 0 && len(req.Tests) > 0 {
		bad("collect", "collect is for a task without tests")
	}
	if req.TTY && !req.Attach {
		bad("tty", "a terminal needs someone at it: give attach too")
	}
	if req.Attach && (req.Stdin != nil || len(req.Tests) > 0) {
		bad("attach", "an attached task's stdin comes from its WebSocket: drop stdin and tests")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// The files are good; now they go to disk, when there are any: the
	// task's directory holds its blobs, stdin, tests and helpers, and a
	// task with none of them (most tasks of a playground) is spared it.
	if len(refs) > 0 || req.Stdin != nil || req.Checker != nil || req.Interactor != nil || len(req.Tests) > 0 {
		if d.dir, err = os.MkdirTemp("", "jail-serve-"); err != nil {
			return nil, err
		}
	}
	fail := func(err error) (*decoded, error) {
		d.release()
		return nil, err
	}
	// The judge copies a file From a path only when the task runs, so a
	// blob is placed in the task's directory now: evicted after this, it
	// is still the task's.
	if len(refs) > 0 {
		fdir := filepath.Join(d.dir, "files")
		if err := os.Mkdir(fdir, 0o755); err != nil {
			return fail(err)
		}
		for _, r := range refs {
			dst := filepath.Join(fdir, files[r.file].Name)
			if err := blobs.place(r.ref, dst); err != nil {
				return fail(field.Errorf(r.field, "%v", err))
			}
			files[r.file].From = dst
		}
	}
	// The work directory's files are the task's own, so the profile's
	// source name is the first file's when there is one file.
	if prof != nil && prof.SourceName != "" && len(files) == 1 && files[0].Name != prof.SourceName {
		files[0].Name = prof.SourceName
	}
	o := taskSettings(env, d.limits, d.network)
	if req.Image != "" {
		if images == nil {
			return fail(field.Errorf("image", "%q: this server runs no images (jail serve keeps them with the store; the compatibility APIs take none)", req.Image))
		}
		img, release, err := images(req.Image)
		if err != nil {
			// The store's message names the image already.
			return fail(field.Errorf("image", "%s", strings.TrimPrefix(err.Error(), "image ")))
		}
		d.releaseImage = release
		img.Entrypoint, img.Cmd = nil, nil
		o.Image = img
	}
	d.task = judge.Task{
		Program:    judge.Program{Profile: prof, Steps: steps, Files: files, Settings: o, CompileLimits: d.compile, Args: req.Args},
		Check:      check,
		StopOnFail: req.StopOnFail,
		Transcript: req.Transcript,
		Collect:    req.Collect,
		TTY:        req.TTY,
	}
	if req.Attach {
		if d.task.Stdin, d.stdinW, err = os.Pipe(); err != nil {
			return fail(err)
		}
	}
	if req.Stdin != nil {
		p, err := req.Stdin.toFile(d.dir, "stdin", "stdin", blobs)
		if err != nil {
			return fail(err)
		}
		if d.task.Stdin, err = os.Open(p); err != nil {
			return fail(err)
		}
	}
	for _, h := range []struct {
		f    *File
		dst  **judge.Helper
		name string
	}{{req.Checker, &d.task.Checker, "checker"}, {req.Interactor, &d.task.Interactor, "interactor"}} {
		if h.f == nil {
			continue
		}
		if err := judge.CheckFileName(h.f.Name); err != nil {
			return fail(field.Wrap(h.name+".name", "", err))
		}
		hdir := filepath.Join(d.dir, h.name)
		if err := os.Mkdir(hdir, 0o755); err != nil {
			return fail(err)
		}
		p, err := h.f.Data.toFile(hdir, h.f.Name, h.name, blobs)
		if err != nil {
			return fail(err)
		}
		*h.dst = &judge.Helper{Path: p}
	}
	if len(req.Tests) > 0 {
		tests, err := writeTests(d.dir, req.Tests, d.task.Interactor != nil, blobs)
		if err != nil {
			return fail(err)
		}
		d.task.Tests = tests
	}
	return d, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// writeTests writes the tests as a tests directory, NAME.in and NAME.out,
// and loads it as `jail judge` loads one.
func writeTests(dir string, tests []Test, interactive bool, blobs blobResolver) ([]judge.TestCase, error) {
	tdir := filepath.Join(dir, "tests")
	if err := os.Mkdir(tdir, 0o755); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, t := range tests {
		name := fmt.Sprintf("tests[%d]", i)
		if t.Name == "" {
			t.Name = strconv.Itoa(i + 1)
		}
		if err := judge.CheckFileName(t.Name + ".in"); err != nil {
			return nil, field.Wrap(name+".name", "", err)
		}
		if seen[t.Name] {
			return nil, field.Errorf(name+".name", "%q is given twice", t.Name)
		}
		seen[t.Name] = true
		if _, err := t.Stdin.toFile(tdir, t.Name+".in", name+".stdin", blobs); err != nil {
			return nil, err
		}
		switch {
		case t.Expect != nil:
			if _, err := t.Expect.toFile(tdir, t.Name+".out", name+".expect", blobs); err != nil {
				return nil, err
			}
		case !interactive:
			return nil, field.Errorf(name+".expect", "missing: give the expected output")
		}
	}
	// The order is the request's: the names are numbered so the tests
	// directory's natural order is it.
	loaded, err := loadInOrder(tdir, tests, interactive)
	if err != nil {
		return nil, err
	}
	return loaded, nil
}

func loadInOrder(tdir string, tests []Test, interactive bool) ([]judge.TestCase, error) {
	load := judge.LoadTests
	if interactive {
		load = judge.LoadInputs
	}
	all, err := load(tdir)
	if err != nil {
		return nil, err
	}
	byName := map[string]judge.TestCase{}
	for _, t := range all {
		byName[t.Name] = t
	}
	out := make([]judge.TestCase, 0, len(tests))
	for i, t := range tests {
		name := t.Name
		if name == "" {
			name = strconv.Itoa(i + 1)
		}
		out = append(out, byName[name])
	}
	return out, nil
}

// content is the Data's bytes, or the digest of its blob.
func (d Data) content(name string, blobs blobResolver) (data []byte, ref string, err error) {
	n := 0
	for _, p := range []*string{d.Text, d.B64, d.Ref} {
		if p != nil {
			n++
		}
	}
	if n != 1 {
		return nil, "", field.Errorf(name, "give exactly one of text, b64 and ref")
	}
	switch {
	case d.Text != nil:
		return []byte(*d.Text), "", nil
	case d.B64 != nil:
		b, err := base64.StdEncoding.DecodeString(*d.B64)
		if err != nil {
			return nil, "", field.Errorf(name+".b64", "not base64: %v", err)
		}
		return b, "", nil
	}
	if err := blobs.has(*d.Ref); err != nil {
		return nil, "", field.Errorf(name+".ref", "%v", err)
	}
	return nil, *d.Ref, nil
}

// toFile writes the Data to dir/base and returns the path.
func (d Data) toFile(dir, base, name string, blobs blobResolver) (string, error) {
	b, ref, err := d.content(name, blobs)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, base)
	if ref != "" {
		if err := blobs.place(ref, dst); err != nil {
			return "", field.Errorf(name+".ref", "%v", err)
		}
		return dst, nil
	}
	return dst, os.WriteFile(dst, b, 0o644)
}

// closeStdin ends an attached stdin: PROG reads end of file.
func (d *decoded) closeStdin() {
	if d.stdinW != nil {
		d.stdinW.Close()
		d.stdinW = nil
	}
}

// newOutputData is bytes as the API returns them: text when it is UTF-8,
// else base64.
func newOutputData(b []byte) map[string]any {
	if utf8.Valid(b) {
		return map[string]any{"text": string(b)}
	}
	return map[string]any{"b64": base64.StdEncoding.EncodeToString(b)}
}
