package profiles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

func mkExec(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"), mode))
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))
}

func TestCheckRootLookPath(t *testing.T) {
	root := t.TempDir()
	mkExec(t, filepath.Join(root, "usr/bin/prog"), 0o755)
	mkExec(t, filepath.Join(root, "usr/bin/noexec"), 0o644)
	mkExec(t, filepath.Join(root, "usr/lib/real/prog2"), 0o755)
	symlink(t, "../lib/real/prog2", filepath.Join(root, "usr/bin/rel"))
	symlink(t, "/etc/alternatives/java", filepath.Join(root, "usr/bin/java"))
	mkExec(t, filepath.Join(root, "usr/lib/jvm/bin/java"), 0o755)
	symlink(t, "loop", filepath.Join(root, "usr/bin/loop"))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/bin/adir"), 0o755))
	// The host path exists, but inside the sandbox it points nowhere.
	symlink(t, filepath.Join(root, "usr/bin/prog"), filepath.Join(root, "usr/bin/hostabs"))

	alt := t.TempDir()
	symlink(t, "/usr/lib/jvm/bin/java", filepath.Join(alt, "java"))
	tool := t.TempDir()
	mkExec(t, filepath.Join(tool, "bin/tool"), 0o755)

	p := &Profile{
		Env: map[string]string{"PATH": "/usr/bin:relative:/opt/tool/bin"},
		Mounts: []Mount{
			{Source: alt, Target: "/etc/alternatives"},
			{Source: tool, Target: "/opt/tool"},
			{Source: filepath.Join(root, "absent"), Target: "/opt/absent", Optional: true},
		},
	}
	look := p.RootLookPath(root)
	tests := []struct {
		prog   string
		want   string
		wantOK bool
	}{
		{prog: "prog", want: "/usr/bin/prog", wantOK: true},
		{prog: "rel", want: "/usr/bin/rel", wantOK: true},
		{prog: "java", want: "/usr/bin/java", wantOK: true},
		{prog: "tool", want: "/opt/tool/bin/tool", wantOK: true},
		{prog: "/opt/tool/bin/tool", want: "/opt/tool/bin/tool", wantOK: true},
		{prog: "noexec"},
		{prog: "loop"},
		{prog: "adir"},
		{prog: "hostabs"},
		{prog: "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.prog, func(t *testing.T) {
			got, ok := look(tt.prog)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				assert.Equal(t, tt.want, got)
			}
		})
	}

	// Without the /etc/alternatives mount, java dangles, as it would
	// inside the sandbox.
	p.Mounts = p.Mounts[1:]
	_, ok := p.RootLookPath(root)("java")
	assert.False(t, ok)
}

// The default root shows only the host's /usr (and the merged-/usr
// symlinks into it) plus the profile's mounts.
func TestCheckHostLookPathDefaultRoot(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sh"); err != nil {
		testutil.Skip(t, "the host has no /usr/bin/sh: %v", err)
	}
	outside := t.TempDir()
	mkExec(t, filepath.Join(outside, "real"), 0o755)
	mounted := t.TempDir()
	mkExec(t, filepath.Join(mounted, "tool"), 0o755)
	symlink(t, filepath.Join(outside, "real"), filepath.Join(mounted, "viahost"))

	p := &Profile{
		Env:    map[string]string{"PATH": "/usr/bin:/opt/m"},
		Mounts: []Mount{{Source: mounted, Target: "/opt/m"}},
	}
	look := p.HostLookPath()
	got, ok := look("sh")
	assert.True(t, ok)
	assert.Equal(t, "/usr/bin/sh", got)
	_, ok = look("/bin/sh")
	assert.True(t, ok, "/bin is a symlink to usr/bin in the default root")
	got, ok = look("tool")
	assert.True(t, ok)
	assert.Equal(t, "/opt/m/tool", got)
	_, ok = look("viahost")
	assert.False(t, ok, "a symlink to a host path outside the sandbox's view dangles inside")
	_, ok = look(filepath.Join(outside, "real"))
	assert.False(t, ok, "host paths outside /usr are not in the default root")
}
