package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDetachKeys(t *testing.T) {
	for v, want := range map[string][]byte{
		"ctrl-p,ctrl-q": {0x10, 0x11},
		"ctrl-a":        {0x01},
		"ctrl-@,x":      {0x00, 'x'},
		"ctrl-[,ctrl-_": {0x1b, 0x1f},
	} {
		got, err := parseDetachKeys(v)
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	for _, v := range []string{"", "ctrl-1", "ctrl-pq", "ab", "ctrl-P"} {
		_, err := parseDetachKeys(v)
		assert.ErrorContains(t, err, "--detach-keys", "%q", v)
	}
}

// chunks reads one chunk per Read, as a terminal hands over keys.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	*c = (*c)[1:]
	return n, nil
}

// TestForwardKeys: the detach sequence is never forwarded, across reads
// too; a key that only begins it goes through once the next shows it
// does not go on.
func TestForwardKeys(t *testing.T) {
	seq := []byte{0x10, 0x11}
	for _, tc := range []struct {
		name     string
		in       chunks
		sent     string
		detached bool
	}{
		{"plain", chunks{[]byte("ls\r")}, "ls\r", false},
		{"sequence", chunks{[]byte("ab\x10\x11cd")}, "ab", true},
		{"across reads", chunks{[]byte("a\x10"), []byte("\x11b")}, "a", true},
		{"a lone first key", chunks{[]byte("\x10x")}, "\x10x", false},
		{"the first key twice", chunks{[]byte("\x10\x10\x11")}, "\x10", true},
		{"a first key at the end", chunks{[]byte("x\x10")}, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			in := tc.in
			assert.Equal(t, tc.detached, forwardKeys(&out, &in, seq))
			assert.Equal(t, tc.sent, out.String())
		})
	}
}
