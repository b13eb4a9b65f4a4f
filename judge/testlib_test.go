package judge

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckerOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		sig    syscall.Signal
		stderr string
		want   Outcome
	}{
		{"ok", 0, 0, "ok 3 numbers\n", Outcome{Verdict: OK, Message: "ok 3 numbers"}},
		{"wa", 1, 0, "wrong answer 1st numbers differ - expected: '5', found: '6'\n",
			Outcome{Verdict: WA, Message: "wrong answer 1st numbers differ - expected: '5', found: '6'"}},
		{"pe", 2, 0, "wrong output format Unexpected end of file - int32 expected\n",
			Outcome{Verdict: PE, Message: "wrong output format Unexpected end of file - int32 expected"}},
		{"fail is XX with the message", 3, 0, "FAIL Answer contains 3 numbers, input 2\n",
			Outcome{Verdict: XX, Message: "checker failed: FAIL Answer contains 3 numbers, input 2"}},
		{"dirt", 4, 0, "wrong output format Extra information in the output file\n",
			Outcome{Verdict: PE, Message: "wrong output format Extra information in the output file"}},
		{"points, recent format", 7, 0, "points 0.5 half of the queries\n",
			Outcome{Verdict: PT, Score: 0.5, Message: "half of the queries"}},
		{"points, old %.10f", 7, 0, "points 12.5000000000\n", Outcome{Verdict: PT, Score: 12.5}},
		{"points, integer", 7, 0, "points 30 ok", Outcome{Verdict: PT, Score: 30, Message: "ok"}},
		{"points without score", 7, 0, "points\n",
			Outcome{Verdict: XX, Message: `checker exited 7 (points) without a "points SCORE" message: points`}},
		{"points with junk score", 7, 0, "points abc\n",
			Outcome{Verdict: XX, Message: `checker exited 7 (points) with score "abc", not a finite number`}},
		{"points with nan", 7, 0, "points nan\n",
			Outcome{Verdict: XX, Message: `checker exited 7 (points) with score "nan", not a finite number`}},
		{"points without testlib's prefix", 7, 0, "0.5\n",
			Outcome{Verdict: XX, Message: `checker exited 7 (points) without a "points SCORE" message: 0.5`}},
		{"unexpected eof", 8, 0, "unexpected eof Unexpected end of file - token expected\n",
			Outcome{Verdict: PE, Message: "unexpected eof Unexpected end of file - token expected"}},
		{"5 is not testlib's", 5, 0, "wrong answer (an ejudge build)\n",
			Outcome{Verdict: XX, Message: "checker exited with code 5, which testlib does not define: wrong answer (an ejudge build)"}},
		{"partially correct", 16, 0, "partially correct (16) half\n",
			Outcome{Verdict: XX, Message: "checker exited with code 16, which testlib does not define: partially correct (16) half"}},
		{"minus one", -1, 0, "", Outcome{Verdict: XX, Message: "checker exited with code -1, which testlib does not define"}},
		{"signal beats the code", 0, syscall.SIGSEGV, "",
			Outcome{Verdict: XX, Message: "checker killed by signal 11 (segmentation fault)"}},
		{"multi-line and control bytes", 1, 0, "wrong answer\nline two\x1b[31m\xff",
			Outcome{Verdict: WA, Message: "wrong answer line two [31m\uFFFD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, CheckerOutcome(tc.code, tc.sig, []byte(tc.stderr)))
		})
	}
}

func TestCheckerOutcomeCapsMessage(t *testing.T) {
	got := CheckerOutcome(1, 0, []byte(strings.Repeat("é", 1000)))
	assert.Equal(t, WA, got.Verdict)
	assert.LessOrEqual(t, len(got.Message), maxMessage)
	assert.True(t, strings.HasSuffix(got.Message, "é…"), "cut on a rune boundary: %q", got.Message[len(got.Message)-8:])
}

func TestVerdictString(t *testing.T) {
	assert.Equal(t, []string{"OK", "WA", "PE", "PT", "XX", "Verdict(5)"},
		[]string{OK.String(), WA.String(), PE.String(), PT.String(), XX.String(), Verdict(5).String()})
}
