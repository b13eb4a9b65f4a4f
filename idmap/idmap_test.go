package idmap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRangesAsNewuidmapReadsThem(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	require.NoError(t, os.WriteFile(f, []byte(`# a comment
alice:100000:65536
bob:165536:65536
1001:300000:10
alice:bad:5
alice:400000:0
alice:4294967290:100
carol:500000:1000:extra
alice:231072:1000
`), 0o644))
	got, err := ranges(f, "alice", 1001)
	require.NoError(t, err)
	assert.Equal(t, []Range{{Outer: 100000, Count: 65536}, {Outer: 300000, Count: 10}, {Outer: 231072, Count: 1000}}, got,
		"lines by name and by uid, in order; malformed, empty and overflowing ones skipped")

	none, err := ranges(filepath.Join(t.TempDir(), "missing"), "alice", 1001)
	require.NoError(t, err, "a missing file is no range")
	assert.Empty(t, none)
}

func TestWithOwnPutsTheCallerAtZero(t *testing.T) {
	m := withOwn(1001, []Range{{Outer: 100000, Count: 65536}, {Outer: 300000, Count: 10}})
	assert.Equal(t, Map{{0, 1001, 1}, {1, 100000, 65536}, {65537, 300000, 10}}, m)
	assert.Equal(t, uint64(65547), m.Size())
	for _, c := range []struct {
		inner, outer uint32
		ok           bool
	}{{0, 1001, true}, {1, 100000, true}, {42, 100041, true}, {65536, 165535, true}, {65537, 300000, true},
		{65546, 300009, true}, {65547, 0, false}, {1 << 31, 0, false}} {
		out, ok := m.Outer(c.inner)
		assert.Equal(t, c.ok, ok, "inner %d", c.inner)
		assert.Equal(t, c.outer, out, "inner %d", c.inner)
		assert.Equal(t, c.ok, m.Contains(c.inner))
	}
	assert.Equal(t, []string{"0", "1001", "1", "1", "100000", "65536", "65537", "300000", "10"}, m.args())

	huge := withOwn(7, []Range{{Outer: 1, Count: 1<<32 - 10}, {Outer: 5, Count: 100}})
	assert.Len(t, huge, 2, "a range past 32 bits of inner ids is left out")
}

func TestIDsEqualAndString(t *testing.T) {
	a := &IDs{UID: withOwn(1001, []Range{{Outer: 100000, Count: 65536}}), GID: withOwn(1001, []Range{{Outer: 100000, Count: 65536}})}
	b := &IDs{UID: withOwn(1001, []Range{{Outer: 100000, Count: 65536}}), GID: withOwn(1001, []Range{{Outer: 200000, Count: 65536}})}
	assert.True(t, a.Equal(a))
	assert.False(t, a.Equal(b))
	assert.False(t, a.Equal(nil))
	assert.True(t, (*IDs)(nil).Equal(nil))
	assert.Equal(t, "uid 0=1001 1-65536=100000-165535, gid 0=1001 1-65536=100000-165535", a.String())
	assert.Equal(t, "one id", (*IDs)(nil).String())
}

func TestSubordinateSaysWhatIsMissing(t *testing.T) {
	if os.Getuid() == 0 {
		_, err := Subordinate()
		assert.True(t, errors.Is(err, ErrNone), "root maps one id: %v", err)
		return
	}
	dir := t.TempDir()
	old, oldG := SubUIDFile, SubGIDFile
	t.Cleanup(func() { SubUIDFile, SubGIDFile = old, oldG })
	SubUIDFile, SubGIDFile = filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	_, err := Subordinate()
	require.ErrorIs(t, err, ErrNone)
	assert.Contains(t, err.Error(), "usermod --add-subuids")
}

func TestOwnIsTheCallerAlone(t *testing.T) {
	own := Own()
	assert.True(t, own.own())
	assert.Equal(t, Map{{0, uint32(os.Getuid()), 1}}, own.UID)
	other := &IDs{UID: withOwn(uint32(os.Getuid()), []Range{{Outer: 100000, Count: 65536}}), GID: own.GID}
	assert.False(t, other.own(), "ranges are newuidmap's to write")
}
