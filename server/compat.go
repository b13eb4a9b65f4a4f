package server

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"regexp"

	"jail/judge"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

// compatRoutes serves the APIs of Piston and Judge0 beside jail's own, so
// that their clients work unchanged. Both are translations only: a foreign
// request becomes a TaskRequest, goes through the same decode, policy,
// queue and judge as POST /v1/runs, and the judge's Result is told back in
// the foreign API's words.
func (s *Server) compatRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/runtimes", s.pistonRuntimes)
	mux.HandleFunc("POST /api/v2/execute", s.pistonExecute)

	mux.HandleFunc("POST /submissions", s.judge0Create)
	mux.HandleFunc("POST /submissions/batch", s.judge0BatchCreate)
	mux.HandleFunc("GET /submissions/batch", s.judge0BatchShow)
	mux.HandleFunc("GET /submissions/{token}", s.judge0Show)
	mux.HandleFunc("GET /languages", s.judge0Languages)
	mux.HandleFunc("GET /languages/{id}", s.judge0Language)
	mux.HandleFunc("GET /statuses", s.judge0Statuses)
}

// language maps one of jail's profiles onto Piston's runtime and Judge0's
// language ids. Each API has one toolchain per profile: the one on this
// host, whatever version a client names.
type language struct {
	profile string
	// piston is Piston's language name; runtime is Piston's runtime
	// field, which it sets only where a language has alternatives.
	piston, runtime string
	// aliases are Piston's, and jail's profile name.
	aliases []string
	// judge0 are Judge0 CE's ids of this language: the first is listed,
	// the others (older compilers, and the ids of the archived 2017 list
	// that Judge0's own documentation examples still use) are accepted.
	judge0 []int
	// judge0Name is Judge0's display name around the toolchain version.
	judge0Name string
}

// languages are Piston's names and aliases (its runtimes list) and Judge0
// CE's ids (db/languages/active.rb; the archived ones from its docs'
// languages list) for the profiles both can run.
var languages = []language{
	{profile: "c", piston: "c", runtime: "gcc", aliases: []string{"gcc"}, judge0: []int{50, 48, 49, 4, 5, 6, 7, 8, 9}, judge0Name: "C (GCC %s)"},
	{profile: "cpp", piston: "c++", runtime: "gcc", aliases: []string{"cpp", "g++"}, judge0: []int{54, 52, 53, 10, 11, 12, 13, 14, 15}, judge0Name: "C++ (GCC %s)"},
	{profile: "go", piston: "go", aliases: []string{"golang"}, judge0: []int{60, 22}, judge0Name: "Go (%s)"},
	{profile: "java", piston: "java", aliases: []string{}, judge0: []int{62, 26, 27, 28}, judge0Name: "Java (OpenJDK %s)"},
	{profile: "node", piston: "javascript", runtime: "node", aliases: []string{"node-javascript", "node-js", "javascript", "js", "node"}, judge0: []int{63, 29, 30}, judge0Name: "JavaScript (Node.js %s)"},
	{profile: "python3", piston: "python", aliases: []string{"py", "py3", "python3"}, judge0: []int{71, 34, 35}, judge0Name: "Python (%s)"},
}

// dottedVersion finds "3.11.2" in "Python 3.11.2" and "12.2.0" in
// "gcc (Debian 12.2.0-14) 12.2.0".
var dottedVersion = regexp.MustCompile(`\d+(\.\d+)+`)

// languageVersion is the profile's toolchain version as the foreign APIs
// spell versions: the dotted number of its first line, else the line, else
// "unknown" when the toolchain did not answer.
func (s *Server) languageVersion(p *profiles.Profile) string {
	line := s.toolchainVersion(p)
	if v := dottedVersion.FindString(line); v != "" {
		return v
	}
	if line == "" {
		return "unknown"
	}
	return line
}

// outcome is what both foreign APIs tell of a run: the one test's (a
// Judge0 expected_output) or the one run's.
type outcome struct {
	verdict        verdict.Verdict
	exitCode       int
	signal         string
	limitHit       string
	reason, check  string
	err            string
	cpu, wall      sandbox.Seconds
	memory         int64
	stdout, stderr *judge.Excerpt
}

func stepOutcome(st *judge.StepResult) outcome {
	return outcome{verdict: st.Verdict, exitCode: st.ExitCode, signal: st.Signal, limitHit: st.LimitHit,
		reason: st.Reason, err: st.Error, cpu: st.CPUUser + st.CPUSys, wall: st.WallTime, memory: st.PeakMemory,
		stdout: st.Output, stderr: st.Stderr}
}

func testOutcome(tr *judge.TestResult) outcome {
	return outcome{verdict: tr.Verdict, exitCode: tr.ExitCode, signal: tr.Signal, limitHit: tr.LimitHit,
		reason: tr.Reason, check: tr.Message, err: tr.Error, cpu: tr.CPUTime, wall: tr.WallTime, memory: tr.PeakMemory,
		stdout: &tr.Output, stderr: &tr.Stderr}
}

// bytes is an excerpt's content, base64 or not.
func excerptBytes(e *judge.Excerpt) []byte {
	if e == nil {
		return nil
	}
	if e.B64 != "" {
		b, _ := base64.StdEncoding.DecodeString(e.B64)
		return b
	}
	return []byte(e.Text)
}

// readBody reads a body of at most the server's cap; tooBig says the cap
// was what stopped it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (b []byte, tooBig bool, err error) {
	b, err = io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var mbe *http.MaxBytesError
	return b, errors.As(err, &mbe), err
}
