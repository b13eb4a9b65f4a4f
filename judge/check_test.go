package judge

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/verdict"
)

func TestParseCheck(t *testing.T) {
	for _, spec := range []string{"exact", "lines", "tokens", "float:1e-06", "float:0.5"} {
		c, err := ParseCheck(spec)
		require.NoError(t, err, spec)
		assert.Equal(t, spec, c.String())
	}
	for _, tc := range []struct{ spec, wantErr string }{
		{"", `unknown check ""`},
		{"Exact", `unknown check "Exact": use exact, lines, tokens or float:EPS`},
		{"float", `check "float" needs a tolerance: use float:EPS`},
		{"float:", `check "float:": EPS must be a positive number, e.g. float:1e-6`},
		{"float:abc", `check "float:abc": EPS must be`},
		{"float:0", `check "float:0": EPS must be`},
		{"float:-1e-6", `check "float:-1e-6": EPS must be`},
		{"float:NaN", `check "float:NaN": EPS must be`},
		{"float:inf", `check "float:inf": EPS must be`},
	} {
		_, err := ParseCheck(tc.spec)
		if assert.Error(t, err, tc.spec) {
			assert.Contains(t, err.Error(), tc.wantErr)
		}
	}
}

type compareCase struct {
	name, output, answer string
	want                 verdict.Verdict
	msg                  string // substring of the message; "" asserts none
}

func runCompare(t *testing.T, spec string, cases []compareCase) {
	t.Helper()
	c, err := ParseCheck(spec)
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// OneByteReader makes every lookahead cross a read boundary.
			for _, wrap := range []func(io.Reader) io.Reader{nil, iotest.OneByteReader} {
				out, ans := io.Reader(strings.NewReader(tc.output)), io.Reader(strings.NewReader(tc.answer))
				if wrap != nil {
					out, ans = wrap(out), wrap(ans)
				}
				got, err := c.Compare(out, ans)
				require.NoError(t, err)
				assert.Equal(t, tc.want, got.Verdict, "message: %s", got.Message)
				switch {
				case tc.want == verdict.OK:
					assert.Empty(t, got.Message)
				case tc.msg == "":
					// Every rejection says where.
					assert.NotEmpty(t, got.Message)
				default:
					assert.Contains(t, got.Message, tc.msg)
				}
			}
		})
	}
}

func TestExact(t *testing.T) {
	runCompare(t, "exact", []compareCase{
		{"equal", "1 2\n3\n", "1 2\n3\n", verdict.OK, ""},
		{"both empty", "", "", verdict.OK, ""},
		{"wrong value", "1 2\n3 5\n", "1 2\n3 4\n", verdict.WA, `line 2, column 3: expected "3 4\n", got "3 5\n"`},
		{"empty output", "", "42\n", verdict.WA, `line 1, column 1: expected "42\n", got end of output`},
		{"empty answer", "42\n", "", verdict.WA, `line 1, column 1: expected end of output, got "42\n"`},
		{"answer only newline", "", "\n", verdict.PE, "only whitespace differs"},
		{"CRLF is not LF", "1\r\n2\r\n", "1\n2\n", verdict.PE, `line 1, column 2: expected "1\n", got "1\r\n"`},
		{"missing final newline", "1\n2", "1\n2\n", verdict.PE, `line 2, column 2`},
		{"trailing space", "1 \n", "1\n", verdict.PE, ""},
		{"tab for space", "1\t2\n", "1 2\n", verdict.PE, ""},
		{"extra spaces", "1  2\n", "1 2\n", verdict.PE, ""},
		{"line break for space", "1\n2\n", "1 2\n", verdict.PE, ""},
		{"split token", "1 2\n", "12\n", verdict.WA, ""},
		{"joined tokens", "12\n", "1 2\n", verdict.WA, ""},
		{"longer token", "12 3\n", "1 3\n", verdict.WA, ""},
		{"prefix of answer", "1 2", "1 2 3", verdict.WA, `column 4: expected "1 2 3", got "1 2"`},
		{"extra token", "1 2 3\n", "1 2\n", verdict.WA, ""},
		{"long line excerpt", strings.Repeat("a", 100) + "X" + strings.Repeat("b", 100), strings.Repeat("a", 100) + "Y" + strings.Repeat("b", 100),
			verdict.WA, `column 101: expected "…` + strings.Repeat("a", 32) + "Y" + strings.Repeat("b", 31) + `…"`},
		{"binary", "\x00\xff", "\x00\xfe", verdict.WA, `expected "\x00\xfe", got "\x00\xff"`},
	})
}

func TestLines(t *testing.T) {
	runCompare(t, "lines", []compareCase{
		{"equal", "1 2\n3\n", "1 2\n3\n", verdict.OK, ""},
		{"both empty", "", "", verdict.OK, ""},
		{"empty output, blank answer", "", " \n\n", verdict.OK, ""},
		{"blank output, empty answer", "\n \t\n\n", "", verdict.OK, ""},
		{"CRLF", "1 2\r\n3\r\n", "1 2\n3\n", verdict.OK, ""},
		{"CRLF in answer", "1 2\n3", "1 2\r\n3\r\n\r\n", verdict.OK, ""},
		{"trailing blanks", "1 2  \t\n3\v\f\n", "1 2\n3\n", verdict.OK, ""},
		{"trailing empty lines", "1\n2\n\n\n", "1\n2", verdict.OK, ""},
		{"missing final newline", "1\n2", "1\n2\n", verdict.OK, ""},
		{"wrong value", "1\n2\n6\n", "1\n2\n5\n", verdict.WA, `line 3: expected "5", got "6"`},
		{"wrong value after CRLF lines", "1\r\n2\r\n6\r\n", "1\n2\n5\n", verdict.WA, `line 3: expected "5", got "6"`},
		{"empty output", "", "42\n", verdict.WA, `line 1: expected "42", got end of output`},
		{"output has fewer lines", "1\n2\n", "1\n2\n3\n", verdict.WA, `line 3: expected "3", got end of output`},
		{"output has more lines", "1\n2\n3\n", "1\n2\n", verdict.WA, `line 3: expected end of output, got "3"`},
		{"leading space matters", " 1\n", "1\n", verdict.PE, "the tokens agree but the lines do not"},
		{"inner spaces matter", "1  2\n", "1 2\n", verdict.PE, `line 1: expected "1 2", got "1  2"`},
		{"tab for space", "1\t2\n", "1 2\n", verdict.PE, ""},
		{"layout differs", "1\n2\n", "1 2\n", verdict.PE, `line 1: expected "1 2", got "1"`},
		{"empty line inside", "1\n\n2\n", "1\n2\n", verdict.PE, `line 2: expected "2", got ""`},
		{"bare CR is content", "1\r2\n", "12\n", verdict.WA, ""},
		{"prefix", "12", "123", verdict.WA, `line 1: expected "123", got "12"`},
		{"token longer", "ab c\n", "abc\n", verdict.WA, ""},
	})
}

func TestTokens(t *testing.T) {
	runCompare(t, "tokens", []compareCase{
		{"equal", "1 2\n3\n", "1 2\n3\n", verdict.OK, ""},
		{"both empty", "", "", verdict.OK, ""},
		{"whitespace only", " \r\n\t", "\n", verdict.OK, ""},
		{"any layout", "  1\r\n\t2\v3\f", "1 2 3\n", verdict.OK, ""},
		{"wrong token", "1 2 4 5\n", "1 2 3 5\n", verdict.WA, `token 3 (line 1): expected "3", got "4"`},
		{"line of the output", "1\r\n2\r\nx\r\n", "1 2 y", verdict.WA, `token 3 (line 3): expected "y", got "x"`},
		{"output short", "1 2", "1 2 3", verdict.WA, "output ended after 2 tokens, answer has 3"},
		{"empty output", "", "1 2 3", verdict.WA, "output ended after 0 tokens, answer has 3"},
		{"output long", "1 2 3 4", "1 2", verdict.WA, `answer has 2 tokens, output has more: token 3 (line 1) is "3"`},
		{"empty answer", "x", "", verdict.WA, "answer has 0 tokens"},
		{"numbers are text", "1.0", "1", verdict.WA, ""},
		{"case matters", "Yes", "YES", verdict.WA, ""},
		{"long token shown capped", strings.Repeat("x", 40), strings.Repeat("y", 40), verdict.WA, `expected "` + strings.Repeat("y", 32) + `…"`},
	})
}

func TestFloat(t *testing.T) {
	runCompare(t, "float:1e-6", []compareCase{
		{"equal", "1.5 2", "1.5 2", verdict.OK, ""},
		{"absolute", "0.0000005", "0", verdict.OK, ""},
		{"absolute too far", "0.000002", "0", verdict.WA, `token 1 (line 1): expected "0", got "0.000002": error 2e-06 exceeds 1e-06`},
		{"relative", "1000000001", "1000000000", verdict.OK, ""},
		{"relative too far", "1000002000", "1000000000", verdict.WA, "exceeds"},
		{"relative to the answer, not the output", "2000000", "1", verdict.WA, ""},
		{"exponent forms", "1e5 1E+5 100000.0 .5 5.", "100000 100000 1e5 0.5 5", verdict.OK, ""},
		{"signs", "+1 -0 0", "1 0 -0", verdict.OK, ""},
		{"NaN only NaN", "nan NaN -nan", "NaN nan nan", verdict.OK, ""},
		{"NaN is not a number's match", "0", "nan", verdict.WA, ""},
		{"number is not NaN's match", "nan", "0", verdict.WA, ""},
		{"infinities", "inf -Infinity +INF", "Inf -inf infinity", verdict.OK, ""},
		{"infinity of the other sign", "-inf", "inf", verdict.WA, ""},
		{"huge is not infinity", "1e308", "inf", verdict.WA, ""},
		{"infinity is not huge", "inf", "1e308", verdict.WA, ""},
		{"overflow is infinity", "1e400", "inf", verdict.OK, ""},
		{"hex float is not a number", "8", "0x1p3", verdict.WA, ""},
		{"hex float matches itself", "0x1p3", "0x1p3", verdict.OK, ""},
		{"hex in output is not a number", "0x1p3", "8", verdict.WA, `expected "8", got "0x1p3": not a number`},
		{"underscores are not numbers", "1_000", "1000", verdict.WA, "not a number"},
		{"text compared exactly", "YES 1.0000001", "YES 1", verdict.OK, ""},
		{"text differs", "yes 1", "YES 1", verdict.WA, `token 1 (line 1): expected "YES", got "yes"`},
		{"bare dot is text", ".", ".", verdict.OK, ""},
		{"incomplete exponent is text", "1e", "1e", verdict.OK, ""},
		{"count", "1.0", "1 2", verdict.WA, "output ended after 1 tokens, answer has 2"},
	})
	runCompare(t, "float:0.1", []compareCase{
		// 1.1-1.0 is 0.10000000000000009 in binary; testlib's slack
		// accepts a difference printed as exactly EPS.
		{"boundary", "1.1", "1.0", verdict.OK, ""},
		{"past boundary", "1.2", "1.0", verdict.WA, ""},
	})
}

// A read error is not PROG's fault and must not come back as a verdict.
func TestCompareReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, spec := range []string{"exact", "lines", "tokens", "float:1e-6"} {
		c, err := ParseCheck(spec)
		require.NoError(t, err)
		_, err = c.Compare(strings.NewReader("1 2 3"), iotest.ErrReader(boom))
		assert.ErrorIs(t, err, boom, spec)
		assert.ErrorContains(t, err, "reading answer", spec)
		_, err = c.Compare(io.MultiReader(strings.NewReader("1 2"), iotest.ErrReader(boom)), strings.NewReader("1 2 3"))
		assert.ErrorIs(t, err, boom, spec)
		assert.ErrorContains(t, err, "reading output", spec)
	}
}

// A reader that never makes progress must not hang the judge.
func TestCompareNoProgress(t *testing.T) {
	c, err := ParseCheck("lines")
	require.NoError(t, err)
	_, err = c.Compare(stuckReader{}, strings.NewReader("1"))
	assert.ErrorIs(t, err, io.ErrNoProgress)
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// pattern yields n bytes of p repeated, then, if tail is set, tail; it
// stands for an output too large to hold.
type pattern struct {
	p    []byte
	n, i int64
	tail []byte
}

func (r *pattern) Read(b []byte) (int, error) {
	if r.i >= r.n {
		if len(r.tail) == 0 {
			return 0, io.EOF
		}
		k := copy(b, r.tail)
		r.tail = r.tail[k:]
		return k, nil
	}
	k := 0
	for k < len(b) && r.i < r.n {
		c := copy(b[k:min(int64(len(b)), int64(k)+r.n-r.i)], r.p[r.i%int64(len(r.p)):])
		k += c
		r.i += int64(c)
	}
	return k, nil
}

// Huge outputs stream through a fixed buffer: 100 MB on each side, in a
// bounded time and without the heap growing with the input.
func TestCompareHuge(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() || raceEnabled {
		size = 8 << 20
	}
	crlf := []byte("123456789 0.5 abc\r\n")
	lf := []byte("123456789 0.5 abc\n")
	k := size / int64(len(lf)) // lines on each side
	lines := func(p []byte, tail string) io.Reader { return &pattern{p: p, n: k * int64(len(p)), tail: []byte(tail)} }
	for _, tc := range []struct {
		spec     string
		out, ans io.Reader
		want     verdict.Verdict
		msg      string
	}{
		{"exact", lines(lf, ""), lines(lf, ""), verdict.OK, ""},
		{"exact", lines(lf, "x"), lines(lf, "y"), verdict.WA, fmt.Sprintf(`line %d, column 1: expected "y", got "x"`, k+1)},
		{"exact", lines(crlf, ""), lines(lf, ""), verdict.PE, `line 1, column 18: expected "123456789 0.5 abc\n", got "123456789 0.5 abc\r\n"`},
		{"lines", lines(crlf, ""), lines(lf, ""), verdict.OK, ""},
		{"lines", lines(crlf, "7"), lines(lf, "8"), verdict.WA, fmt.Sprintf(`line %d: expected "8", got "7"`, k+1)},
		{"tokens", lines(crlf, ""), lines(lf, "z"), verdict.WA, fmt.Sprintf("output ended after %d tokens, answer has %d", 3*k, 3*k+1)},
		{"float:1e-6", lines(crlf, ""), lines(lf, ""), verdict.OK, ""},
		// One token of the whole size: compared as it streams, never held.
		{"tokens", &pattern{p: []byte("a"), n: size}, &pattern{p: []byte("a"), n: size}, verdict.OK, ""},
		{"tokens", &pattern{p: []byte("a"), n: size, tail: []byte("b")}, &pattern{p: []byte("a"), n: size}, verdict.WA, `token 1 (line 1): expected "aaaa`},
	} {
		c, err := ParseCheck(tc.spec)
		require.NoError(t, err)
		start := time.Now()
		got, err := c.Compare(tc.out, tc.ans)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got.Verdict, "%s: %s", tc.spec, got.Message)
		if tc.msg == "" {
			assert.Empty(t, got.Message)
		} else {
			assert.Contains(t, got.Message, tc.msg)
		}
		// Generous for a shared machine under -race; quadratic work or
		// a stall would blow it.
		assert.Less(t, time.Since(start), 60*time.Second)
		t.Logf("%s on %d MiB: %v", tc.spec, size>>20, time.Since(start))
	}
}

// Bounded memory, measured: comparing 16 MiB (4 under -race) that differ on every line
// (CRLF against LF) allocates about the two buffers, not the input.
func TestCompareHugeMemory(t *testing.T) {
	size := int64(16 << 20)
	if raceEnabled {
		size = 4 << 20 // still four times the bound below
	}
	for _, spec := range []string{"exact", "lines", "tokens"} {
		c, err := ParseCheck(spec)
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := c.Compare(&pattern{p: []byte("1 2 3\r\n"), n: size / 6 * 7}, &pattern{p: []byte("1 2 3\n"), n: size / 6 * 6})
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		assert.NotEqual(t, verdict.WA, got.Verdict, spec)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), spec)
	}
}
