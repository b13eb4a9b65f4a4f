package judge

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"jail/verdict"
)

// maxToken is the longest token held whole. Longer tokens are compared
// byte by byte as they stream past, and are never numbers: no judge's
// answer prints a float that long, and holding it would unbound memory.
const maxToken = 4096

// tokenEqual compares one whole token of the output with the answer's.
// When they differ, why may explain it beyond showing both.
type tokenEqual func(out, ans []byte) (ok bool, why string)

// compareTokens accepts outputs with the answer's tokens, separated by any
// whitespace. eq compares tokens that fit in maxToken; nil means bytes.
func compareTokens(o, a *stream, eq tokenEqual) Reading {
	bufO, bufA := make([]byte, 0, maxToken), make([]byte, 0, maxToken)
	for n := 1; ; n++ {
		o.skip(&space)
		a.skip(&space)
		_, moreO := o.peek()
		_, moreA := a.peek()
		switch {
		case !moreO && !moreA:
			return Reading{Verdict: verdict.OK}
		case !moreO:
			return Reading{Verdict: verdict.WA, Message: fmt.Sprintf("output ended after %d tokens, answer has %d", n-1, n+countTokens(a)-1)}
		case !moreA:
			tok, whole := readToken(o, bufO[:0])
			return Reading{Verdict: verdict.WA, Message: fmt.Sprintf("answer has %d tokens, output has more: token %d (line %d) is %s", n-1, n, o.line, showToken(tok, whole))}
		}
		line := o.line
		to, wholeO := readToken(o, bufO[:0])
		ta, wholeA := readToken(a, bufA[:0])
		var same bool
		var why string
		switch {
		case wholeO && wholeA && eq != nil:
			same, why = eq(to, ta)
		case wholeO && wholeA:
			same = bytes.Equal(to, ta)
		default:
			same = wholeO == wholeA && bytes.Equal(to, ta) && sameRestOfToken(o, a)
		}
		if !same {
			msg := fmt.Sprintf("token %d (line %d): expected %s, got %s", n, line, showToken(ta, wholeA), showToken(to, wholeO))
			if why != "" {
				msg += ": " + why
			}
			return Reading{Verdict: verdict.WA, Message: msg}
		}
	}
}

// readToken appends up to maxToken bytes of the token at s to buf; whole
// says the token ended there.
func readToken(s *stream, buf []byte) (tok []byte, whole bool) {
	for len(buf) < maxToken && s.fill() {
		chunk := s.buf[s.pos:min(s.end, s.pos+maxToken-len(buf))]
		i := 0
		for i < len(chunk) && !space[chunk[i]] {
			i++
		}
		buf = append(buf, chunk[:i]...)
		s.pos += i
		if i < len(chunk) {
			return buf, true
		}
	}
	b, more := s.peek()
	return buf, !more || space[b]
}

// sameRestOfToken compares what is left of two long tokens.
func sameRestOfToken(o, a *stream) bool {
	for {
		bo, moreO := o.peek()
		ba, moreA := a.peek()
		endO, endA := !moreO || space[bo], !moreA || space[ba]
		if endO || endA {
			return endO == endA
		}
		if bo != ba {
			return false
		}
		o.pos++
		a.pos++
	}
}

// countTokens counts the tokens left in s, to say how many were expected.
func countTokens(s *stream) int {
	n := 0
	for {
		s.skip(&space)
		if _, more := s.peek(); !more {
			return n
		}
		n++
		for {
			b, more := s.peek()
			if !more || space[b] {
				break
			}
			s.pos++
		}
	}
}

func showToken(tok []byte, whole bool) string {
	if len(tok) > excerptMax {
		tok, whole = tok[:excerptMax], false
	}
	if whole {
		return fmt.Sprintf("%q", tok)
	}
	return fmt.Sprintf("%q", append(tok[:len(tok):len(tok)], "…"...))
}

// floatEqual compares tokens as the usual judges (testlib's doubleCompare)
// do: where the answer's token is a number w, the output's must be a
// number g with |g-w| <= EPS or |g-w| <= EPS*|w|, with
// testlib's slack of 1e-15 so that a difference printed as exactly EPS
// ("1.1" against "1.0" at 0.1) survives binary rounding. NaN matches only
// NaN and an infinity only the same infinity. Where the answer's token is
// not a number, the tokens must be equal bytes.
func floatEqual(eps float64) tokenEqual {
	return func(out, ans []byte) (bool, string) {
		want, ok := parseNumber(ans)
		if !ok {
			return bytes.Equal(out, ans), ""
		}
		got, ok := parseNumber(out)
		switch {
		case !ok:
			return false, "not a number"
		case math.IsNaN(want):
			return math.IsNaN(got), ""
		case math.IsInf(want, 0) || math.IsNaN(got) || math.IsInf(got, 0):
			return got == want, ""
		}
		diff := math.Abs(got - want)
		if diff <= max(eps, eps*math.Abs(want))+1e-15 {
			return true, ""
		}
		return false, fmt.Sprintf("error %.3g exceeds %g", diff, eps)
	}
}

// parseNumber reads a decimal number: [+-] digits [. digits] [e [+-]
// digits], with digits on at least one side of the point, or nan, inf or
// infinity in any case and with any sign (C's printf writes "-nan").
// strconv.ParseFloat alone would take more: hex floats ("0x1p3") and
// underscores ("0x_1p3"). No answer printed by printf or cout has those,
// and reading "0x10" as 16 would let a wrong output pass, so such tokens
// are not numbers here and must match byte for byte. Values beyond the
// range of float64 ("1e400") become infinities or zero, as strtod makes
// them.
func parseNumber(tok []byte) (float64, bool) {
	s := tok
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) > 0 && !isDigit(s[0]) && s[0] != '.' {
		switch string(bytes.ToLower(s)) {
		case "nan":
			return math.NaN(), true
		case "inf", "infinity":
			if neg {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		}
		return 0, false
	}
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == exp {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
