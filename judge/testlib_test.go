package judge

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"jail/verdict"
)

func TestTestlibOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		sig    syscall.Signal
		stderr string
		want   Reading
	}{
		{"ok", 0, 0, "ok 3 numbers\n", Reading{Verdict: verdict.OK, Message: "ok 3 numbers"}},
		{"wa", 1, 0, "wrong answer 1st numbers differ - expected: '5', found: '6'\n",
			Reading{Verdict: verdict.WA, Message: "wrong answer 1st numbers differ - expected: '5', found: '6'"}},
		{"pe", 2, 0, "wrong output format Unexpected end of file - int32 expected\n",
			Reading{Verdict: verdict.PE, Message: "wrong output format Unexpected end of file - int32 expected"}},
		{"fail is verdict.XX with the message", 3, 0, "FAIL Answer contains 3 numbers, input 2\n",
			Reading{Verdict: verdict.XX, Message: "checker failed: FAIL Answer contains 3 numbers, input 2"}},
		{"dirt", 4, 0, "wrong output format Extra information in the output file\n",
			Reading{Verdict: verdict.PE, Message: "wrong output format Extra information in the output file"}},
		{"points, recent format", 7, 0, "points 0.5 half of the queries\n",
			Reading{Verdict: verdict.PT, Score: 0.5, Message: "half of the queries"}},
		{"points, old %.10f", 7, 0, "points 12.5000000000\n", Reading{Verdict: verdict.PT, Score: 12.5}},
		{"points, integer", 7, 0, "points 30 ok", Reading{Verdict: verdict.PT, Score: 30, Message: "ok"}},
		{"points without score", 7, 0, "points\n",
			Reading{Verdict: verdict.XX, Message: `checker exited 7 (points) without a "points SCORE" message: points`}},
		{"points with junk score", 7, 0, "points abc\n",
			Reading{Verdict: verdict.XX, Message: `checker exited 7 (points) with score "abc", not a finite number`}},
		{"points with nan", 7, 0, "points nan\n",
			Reading{Verdict: verdict.XX, Message: `checker exited 7 (points) with score "nan", not a finite number`}},
		{"points without testlib's prefix", 7, 0, "0.5\n",
			Reading{Verdict: verdict.XX, Message: `checker exited 7 (points) without a "points SCORE" message: 0.5`}},
		{"unexpected eof", 8, 0, "unexpected eof Unexpected end of file - token expected\n",
			Reading{Verdict: verdict.PE, Message: "unexpected eof Unexpected end of file - token expected"}},
		{"5 is not testlib's", 5, 0, "wrong answer (an ejudge build)\n",
			Reading{Verdict: verdict.XX, Message: "checker exited with code 5, which testlib does not define: wrong answer (an ejudge build)"}},
		{"partially correct", 16, 0, "partially correct (16) half\n",
			Reading{Verdict: verdict.XX, Message: "checker exited with code 16, which testlib does not define: partially correct (16) half"}},
		{"minus one", -1, 0, "", Reading{Verdict: verdict.XX, Message: "checker exited with code -1, which testlib does not define"}},
		{"signal beats the code", 0, syscall.SIGSEGV, "",
			Reading{Verdict: verdict.XX, Message: "checker killed by signal 11 (segmentation fault)"}},
		{"multi-line and control bytes", 1, 0, "wrong answer\nline two\x1b[31m\xff",
			Reading{Verdict: verdict.WA, Message: "wrong answer line two [31m\uFFFD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, TestlibOutcome("checker", tc.code, tc.sig, []byte(tc.stderr)))
		})
	}
}

func TestTestlibOutcomeCapsMessage(t *testing.T) {
	got := TestlibOutcome("checker", 1, 0, []byte(strings.Repeat("é", 1000)))
	assert.Equal(t, verdict.WA, got.Verdict)
	assert.LessOrEqual(t, len(got.Message), maxMessage)
	assert.True(t, strings.HasSuffix(got.Message, "é…"), "cut on a rune boundary: %q", got.Message[len(got.Message)-8:])
}
