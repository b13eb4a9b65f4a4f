package judge

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Check is one of the built-in checkers. The set is closed, so a test set
// names its checker with a short spec (see ParseCheck) and a checker
// program is the way to go beyond it. The zero Check is exact.
type Check struct {
	kind checkKind
	eps  float64 // for float
}

type checkKind int

const (
	exact checkKind = iota
	lines
	tokens
	float
)

// ParseCheck reads a checker spec:
//
//	exact     the bytes must be equal; whitespace-only differences are PE
//	lines     equal line by line, ignoring trailing blanks on each line
//	          (so CRLF equals LF) and trailing empty lines; a difference
//	          in line layout alone is PE
//	tokens    equal as whitespace-separated tokens
//	float:EPS tokens, where a token that is a decimal number in the answer
//	          matches a number within EPS, absolute or relative
func ParseCheck(spec string) (Check, error) {
	switch spec {
	case "exact":
		return Check{kind: exact}, nil
	case "lines":
		return Check{kind: lines}, nil
	case "tokens":
		return Check{kind: tokens}, nil
	case "float":
		return Check{}, fmt.Errorf("check %q needs a tolerance: use float:EPS, e.g. float:1e-6", spec)
	}
	if v, ok := strings.CutPrefix(spec, "float:"); ok {
		eps, err := strconv.ParseFloat(v, 64)
		if err != nil || !(eps > 0) || math.IsInf(eps, 0) {
			return Check{}, fmt.Errorf("check %q: EPS must be a positive number, e.g. float:1e-6", spec)
		}
		return Check{kind: float, eps: eps}, nil
	}
	return Check{}, fmt.Errorf("unknown check %q: use exact, lines, tokens or float:EPS (e.g. float:1e-6)", spec)
}

// String returns the spec that ParseCheck reads back to the same Check.
func (c Check) String() string {
	switch c.kind {
	case lines:
		return "lines"
	case tokens:
		return "tokens"
	case float:
		return "float:" + strconv.FormatFloat(c.eps, 'g', -1, 64)
	}
	return "exact"
}

// Compare judges PROG's output against the answer. It reads both to the
// end or to the first difference, holding a fixed-size buffer for each,
// and returns OK, WA or PE. The error is for a failed read, with the side
// named; the outcome is then meaningless, and the caller should report XX
// rather than blame PROG.
func (c Check) Compare(output, answer io.Reader) (Reading, error) {
	o, a := newStream(output, "output"), newStream(answer, "answer")
	var out Reading
	switch c.kind {
	case lines:
		out = compareLines(o, a)
	case tokens:
		out = compareTokens(o, a, nil)
	case float:
		out = compareTokens(o, a, floatEqual(c.eps))
	default:
		out = compareExact(o, a)
	}
	// A read error stops a comparison as if that side had ended, so the
	// outcome may be a bogus WA; the error takes precedence.
	if err := a.failed(); err != nil {
		return Reading{}, err
	}
	if err := o.failed(); err != nil {
		return Reading{}, err
	}
	out.Message = oneLine(out.Message)
	return out, nil
}
