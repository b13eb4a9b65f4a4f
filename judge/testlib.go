package judge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"

	"jail/verdict"
)

// testlib's exit codes (testlib.h, resultExitCode, in a default build; the
// EJUDGE and CONTESTER builds renumber them and are not supported).
const (
	testlibOK     = 0 // _ok
	testlibWA     = 1 // _wa
	testlibPE     = 2 // _pe
	testlibFail   = 3 // _fail: the checker found the test itself broken
	testlibDirt   = 4 // _dirt: extra output after the answer
	testlibPoints = 7 // _points: quitp(score, ...)
	testlibEOF    = 8 // _unexpected_eof, with ENABLE_UNEXPECTED_EOF
)

// TestlibOutcome reads the result of a checker or an interactor program
// (role names it in messages) that follows testlib's conventions: it ran
// as `checker INPUT OUTPUT ANSWER` or `interactor INPUT OUTPUT`, exited
// with exitCode (or died of signal, when signal is not 0), and wrote its
// verdict line to stderr. The caller passes a checker that hit a limit
// in its own sandbox as XX itself: that is never PROG's doing.
//
// Exit codes, as testlib defines them:
//
//	0  OK
//	1  WA
//	2  PE
//	3  XX: the checker failed, with its message
//	4  PE: "dirt", output past the answer; recent testlib exits 2 for it
//	7  PT, the score read from stderr's "points SCORE [message]"
//	8  PE: "unexpected eof", the code testlib uses instead of 2 for an
//	   output that ended early when built with ENABLE_UNEXPECTED_EOF
//
// Anything else, a signal, or a 7 without a readable, finite score is XX:
// the checker broke its contract, and PROG must not take the blame. That
// includes testlib's _pc(n) partial scores, which exit n (n = 0 would be
// read as OK by any judge) and whose numbering collides with the codes
// above; quitp is the way to award a score.
func TestlibOutcome(role string, exitCode int, signal syscall.Signal, stderr []byte) Reading {
	msg := oneLine(string(stderr))
	if signal != 0 {
		return Reading{Verdict: verdict.XX, Message: said(fmt.Sprintf("%s killed by signal %d (%v)", role, int(signal), signal), msg)}
	}
	switch exitCode {
	case testlibOK:
		return Reading{Verdict: verdict.OK, Message: msg}
	case testlibWA:
		return Reading{Verdict: verdict.WA, Message: msg}
	case testlibPE, testlibDirt, testlibEOF:
		return Reading{Verdict: verdict.PE, Message: msg}
	case testlibFail:
		return Reading{Verdict: verdict.XX, Message: said(role+" failed", msg)}
	case testlibPoints:
		return points(role, msg)
	}
	return Reading{Verdict: verdict.XX, Message: said(fmt.Sprintf("%s exited with code %d, which testlib does not define", role, exitCode), msg)}
}

// said joins what the judge saw with what the program said, if anything.
func said(what, msg string) string {
	if msg == "" {
		return what
	}
	return oneLine(what + ": " + msg)
}

// points reads testlib's quitp message, "points " followed by the score
// as "%.10f" (trailing zeros trimmed in recent versions, "%d" for an
// integer score) and the checker's own message after a space.
func points(role, msg string) Reading {
	rest, ok := strings.CutPrefix(msg, "points ")
	if !ok {
		return Reading{Verdict: verdict.XX, Message: said(role+` exited 7 (points) without a "points SCORE" message`, msg)}
	}
	num, text, _ := strings.Cut(rest, " ")
	score, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(score) || math.IsInf(score, 0) {
		return Reading{Verdict: verdict.XX, Message: oneLine(fmt.Sprintf("%s exited 7 (points) with score %q, not a finite number", role, num))}
	}
	return Reading{Verdict: verdict.PT, Score: score, Message: strings.TrimSpace(text)}
}
