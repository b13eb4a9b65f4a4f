package judge

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"jail/verdict"
)

// Reading is a checker's reading of PROG's output: OK, WA, PE, PT, or XX
// when the checker itself failed, with what a person needs to act on it.
type Reading struct {
	Verdict verdict.Verdict
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
