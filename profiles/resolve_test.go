package profiles

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/field"
	"jail/limits"
	"jail/sandbox"
)

func TestResolveDefaults(t *testing.T) {
	s, err := Resolve(nil, Overrides{Argv: []string{"/bin/true"}})
	require.NoError(t, err)
	assert.Equal(t, "/", s.Dir)
	assert.Equal(t, "jail", s.Hostname)
	assert.Equal(t, sandbox.NetNone, s.Net)
	assert.Equal(t, uint32(sandbox.DefaultUID), s.UID)
	assert.Equal(t, int64(sandbox.DefaultDisk), s.Disk)
	assert.Equal(t, limits.Spec{}, s.Limits)
	require.NotNil(t, s.Seccomp)
	assert.Equal(t, "default", s.Seccomp.Name)
	assert.Contains(t, s.Env, "PATH="+DefaultPath)
}

func TestResolveProfileAndOverrides(t *testing.T) {
	p, err := Builtin("strict")
	require.NoError(t, err)
	s, err := Resolve(p, Overrides{Argv: []string{"/bin/true"}})
	require.NoError(t, err)
	assert.Equal(t, limits.Spec{Memory: 256 << 20, Pids: 64, CPUTime: 2 * time.Second, Wall: 10 * time.Second,
		Output: 64 << 20, FileSize: 64 << 20, OpenFiles: 64}, s.Limits)
	assert.True(t, s.Strict)
	assert.Equal(t, "strict", s.Seccomp.Name)

	host, off, none := "box", false, "none"
	s, err = Resolve(p, Overrides{Argv: []string{"/bin/true"}, Hostname: &host, Strict: &off, Seccomp: &none,
		Limits: limits.Spec{Memory: 1 << 30}})
	require.NoError(t, err)
	assert.Equal(t, int64(1<<30), s.Limits.Memory, "a given limit replaces the profile's")
	assert.Equal(t, int64(64), s.Limits.Pids, "the others stay")
	assert.Equal(t, "box", s.Hostname)
	assert.False(t, s.Strict)
	assert.Nil(t, s.Seccomp)

	c, err := Builtin("c")
	require.NoError(t, err)
	for step, mem := range map[*Step]int64{c.Compile: 512 << 20, c.Run: 256 << 20, nil: 0} {
		s, err := Resolve(c, Overrides{Argv: []string{"/bin/true"}, Step: step})
		require.NoError(t, err)
		assert.Equal(t, mem, s.Limits.Memory)
	}
}

// The resolver's problems name the field; each face spells it.
func TestResolveErrorsNameFields(t *testing.T) {
	wd := "rel"
	_, err := Resolve(nil, Overrides{Argv: []string{"/bin/true"}, Workdir: &wd, Limits: limits.Spec{OpenFiles: 2}})
	require.Error(t, err)
	var fields []string
	_ = field.Map(err, func(e error) error {
		if fe, ok := e.(*field.Error); ok {
			fields = append(fields, fe.Field)
		}
		return nil
	})
	assert.Equal(t, []string{"root.workdir", "limits.nofile"}, fields)
	_, err = Resolve(nil, Overrides{Argv: []string{"/bin/true"}, Env: []string{"=x"}})
	assert.EqualError(t, err, "env: =x: write KEY=VALUE, or KEY to pass the host's value")
}
