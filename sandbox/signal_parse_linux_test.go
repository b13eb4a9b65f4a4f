package sandbox

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
		"sigkill": syscall.SIGKILL, "9": syscall.SIGKILL, "15": syscall.SIGTERM, "64": syscall.Signal(64)} {
		got, err := ParseSignal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "65", "-1", "SIGNOPE", "9x"} {
		_, err := ParseSignal(bad)
		assert.Error(t, err, bad)
	}
}
