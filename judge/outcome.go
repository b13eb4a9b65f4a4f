package judge

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Verdict is the one-word result of checking one test's output. The set is
// closed and its words match the sandbox's verdicts, which it extends: a
// run that ended OK is then checked, and the check yields one of these.
type Verdict int

const (
	OK Verdict = iota // the output is accepted
	WA                // wrong answer
	PE                // presentation error: right answer, wrong layout
	PT                // a checker program awarded a score (testlib's "points")
	XX                // the checker itself failed; PROG is not to blame
)

var verdictNames = [...]string{OK: "OK", WA: "WA", PE: "PE", PT: "PT", XX: "XX"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// Outcome is a verdict with what a person needs to act on it.
type Outcome struct {
	Verdict Verdict
	// Score is the checker's score; meaningful only when Verdict is PT.
	Score float64
	// Message says where the output went wrong (for WA and PE) or what the
	// checker said. It is one line of at most maxMessage bytes, because it
	// ends up in reports and terminals and comes from untrusted output.
	Message string
}

const maxMessage = 512

// oneLine makes an untrusted message safe to print on one line: valid
// UTF-8, no control characters, at most maxMessage bytes.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
