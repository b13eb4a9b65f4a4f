package sandbox

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/rootfs"
)

// The overlay's options are decided here and only appended by the init;
// the tmpfs root of the default sandbox must not get them.
func TestNativeOpRootOverlayOptions(t *testing.T) {
	over, err := nativeOp(rootfs.Op{Kind: rootfs.Root, Layers: 1, Size: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, "userxattr", over.OverlayOpts)
	assert.Equal(t, 1, over.Layers)
	assert.False(t, over.LowerdirPlus, "one layer fits in mount(2)'s page")
	assert.Equal(t, "size=1048576,nr_inodes=1024,mode=0755", over.Data, "the tmpfs keeps its own data")

	plain, err := nativeOp(rootfs.Op{Kind: rootfs.Root, Size: 1 << 20})
	require.NoError(t, err)
	assert.Empty(t, plain.OverlayOpts)
}

// Layers past what one page of mount(2) options names are stacked one
// fsconfig at a time; the bound leaves room for the other options.
func TestNativeOpRootManyLayers(t *testing.T) {
	fits := len("lowerdir=") + MaxMountDataLayers*len("/proc/self/fd/99999:") +
		len(",upperdir=/tmp/upper,workdir=/tmp/work,") + len(overlayOptions)
	assert.Less(t, fits, 4096)
	op, err := nativeOp(rootfs.Op{Kind: rootfs.Root, Layers: MaxMountDataLayers, Size: 1 << 20})
	require.NoError(t, err)
	assert.False(t, op.LowerdirPlus)
	op, err = nativeOp(rootfs.Op{Kind: rootfs.Root, Layers: MaxMountDataLayers + 1, Size: 1 << 20})
	if lowerdirPlus.Missing() {
		assert.ErrorContains(t, err, "needs Linux 6.8")
		return
	}
	require.NoError(t, err)
	assert.True(t, op.LowerdirPlus)
}

func TestKernelFeatureMissingIn(t *testing.T) {
	f := KernelFeature{Major: 6, Minor: 6}
	for _, tc := range []struct {
		major, minor int
		missing      bool
	}{{5, 15, true}, {6, 1, true}, {6, 5, true}, {6, 6, false}, {6, 18, false}, {7, 0, false}} {
		assert.Equal(t, tc.missing, f.MissingIn(tc.major, tc.minor), "%d.%d", tc.major, tc.minor)
	}
}
