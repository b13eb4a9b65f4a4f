package rootfs

import (
	"path"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The allowlist must never name a secret, a directory holding one, or a
// file inside one; nor a file jail generates, which would then exist
// twice with the host's contents winning or losing by op order.
func TestHostEtcAvoidsSecrets(t *testing.T) {
	generated := map[string]bool{}
	for _, op := range generatedEtc(nil, Config{Hostname: "x", UID: 1000, GID: 1000}) {
		if op.Kind == File {
			generated[path.Base(op.Target)] = true
		}
	}
	require.Contains(t, generated, "passwd", "the generated files are found")
	seen := map[string]bool{}
	for _, a := range HostEtc {
		assert.NotEmpty(t, a.Why, "%s: the allowlist says why each entry is there", a.Path)
		assert.Equal(t, path.Clean(a.Path), a.Path, "%s is not clean", a.Path)
		assert.False(t, path.IsAbs(a.Path) || a.Path == "." || a.Path == ".." || len(a.Path) > 2 && a.Path[:3] == "../",
			"%s must name something below /etc", a.Path)
		assert.False(t, seen[a.Path], "%s listed twice", a.Path)
		seen[a.Path] = true
		for _, s := range SecretEtc {
			assert.False(t, etcOverlaps(a.Path, s), "allowlisted %s exposes the secret %s", a.Path, s)
		}
		for g := range generated {
			assert.False(t, etcOverlaps(a.Path, g), "allowlisted %s would replace jail's generated %s", a.Path, g)
		}
	}
}

func TestEtcOverlaps(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"shadow", "shadow", true},
		{"ssl", "ssl/private", true}, // a directory that holds a secret
		{"ssl/private/key.pem", "ssl/private", true},
		{"ssl/certs/", "ssl/certs", true},
		{"ssl/certs", "ssl/private", false},
		{"shadow-", "shadow", false},
		{"sshd", "ssh", false},
		{"ssh_config", "ssh", false},
	} {
		assert.Equal(t, tt.want, etcOverlaps(tt.a, tt.b), "%s vs %s", tt.a, tt.b)
		assert.Equal(t, tt.want, etcOverlaps(tt.b, tt.a), "%s vs %s", tt.b, tt.a)
	}
}

// Each kind of entry is shown the way its kind promises: a copy without
// write permission, a read-only bind of the very same path, a link with
// the host's text.
func TestHostEtcOps(t *testing.T) {
	ops := hostEtcOps(nil, []EtcEntry{
		{Path: "services", Kind: EtcCopy, Data: "http 80/tcp\n", Mode: 0o444},
		{Path: "ssl/certs", Kind: EtcBind},
		{Path: "localtime", Kind: EtcLink, Data: "/usr/share/zoneinfo/UTC"},
	})
	assert.Equal(t, []Op{
		{Kind: File, Target: "/etc/services", Data: "http 80/tcp\n", Mode: 0o444},
		{Kind: Bind, Source: "/etc/ssl/certs", Target: "/etc/ssl/certs"},
		{Kind: Symlink, Target: "/etc/localtime", Data: "/usr/share/zoneinfo/UTC"},
	}, ops)
}
