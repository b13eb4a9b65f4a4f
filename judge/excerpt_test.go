package judge

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewExcerpt(t *testing.T) {
	tests := []struct {
		name      string
		b         []byte
		size      int64
		text, b64 string
		truncated bool
	}{
		{name: "empty", b: nil, size: 0},
		{name: "whole text", b: []byte("3\n"), size: 2, text: "3\n"},
		{name: "no newline added", b: []byte("3"), size: 1, text: "3"},
		{name: "cut text", b: []byte("abc"), size: 10, text: "abc", truncated: true},
		{name: "cut through a character moves back to its start", b: []byte("aé")[:2], size: 10, text: "a", truncated: true},
		{name: "binary is base64", b: []byte{0xff, 0x00, 0x01}, size: 3, b64: base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01})},
		{name: "NUL is valid UTF-8 and stays text", b: []byte("a\x00b"), size: 3, text: "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExcerpt(tt.b, tt.size)
			assert.Equal(t, tt.text, e.Text)
			assert.Equal(t, tt.b64, e.B64)
			assert.Equal(t, tt.size, e.Bytes)
			assert.Equal(t, tt.truncated, e.Truncated)
		})
	}
}

func TestExcerptOfFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("x", 10000)), 0o644))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	e, err := excerptOf(f, 4096)
	require.NoError(t, err)
	assert.Len(t, e.Text, 4096)
	assert.Equal(t, int64(10000), e.Bytes)
	assert.True(t, e.Truncated)
	assert.Equal(t, "(binary output)", Excerpt{B64: "AA=="}.String())
}
