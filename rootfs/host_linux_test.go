package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeEtc on a made-up /etc with one of each case it must tell apart.
func TestProbeEtc(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
	write("services", "http 80/tcp\n", 0o644)
	write("shadow", "root:$y$secret:1::::::\n", 0o640)
	// Not everyone may read it: a copy would show it to PROG when jail
	// runs as root, a bind keeps the host's check.
	write("gai.conf", "precedence ::ffff:0:0/96 100\n", 0o600)
	write("mime.types", strings.Repeat("x", maxEtcCopy+1), 0o644)
	write("ssl/certs/ca-certificates.crt", "-----BEGIN CERTIFICATE-----\n", 0o644)
	write("ssl/openssl.cnf", "openssl_conf = x\n", 0o644)
	require.NoError(t, os.Symlink("/usr/share/zoneinfo/Europe/Berlin", filepath.Join(dir, "localtime")))
	// A link to a secret: recreated as a link, which resolves inside the
	// sandbox, where the target does not exist.
	require.NoError(t, os.Symlink("shadow", filepath.Join(dir, "protocols")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "rpc"), 0o644))
	// A linked directory: its allowlisted files are what the link points
	// to, which the allowlist did not name.
	write("elsewhere/fonts.conf", "<fontconfig/>\n", 0o644)
	require.NoError(t, os.Symlink("elsewhere", filepath.Join(dir, "fonts")))
	// A directory only its owner may search hides what is in it.
	write("pki/tls/certs/ca-bundle.crt", "-----BEGIN CERTIFICATE-----\n", 0o644)
	require.NoError(t, os.Chmod(filepath.Join(dir, "pki"), 0o700))

	got := map[string]EtcEntry{}
	var order []string
	for _, e := range probeEtc(dir, true) {
		got[e.Path] = e
		order = append(order, e.Path)
	}
	assert.Equal(t, map[string]EtcEntry{
		"services":        {Path: "services", Kind: EtcCopy, Data: "http 80/tcp\n", Mode: 0o444},
		"gai.conf":        {Path: "gai.conf", Kind: EtcBind},
		"mime.types":      {Path: "mime.types", Kind: EtcBind},
		"ssl/certs":       {Path: "ssl/certs", Kind: EtcBind},
		"ssl/openssl.cnf": {Path: "ssl/openssl.cnf", Kind: EtcCopy, Data: "openssl_conf = x\n", Mode: 0o444},
		"localtime":       {Path: "localtime", Kind: EtcLink, Data: "/usr/share/zoneinfo/Europe/Berlin"},
		"protocols":       {Path: "protocols", Kind: EtcLink, Data: "shadow"},
	}, got)
	// Build's order is HostEtc's, so the plan does not depend on the
	// directory's order.
	var want []string
	for _, a := range HostEtc {
		if _, ok := got[a.Path]; ok {
			want = append(want, a.Path)
		}
	}
	assert.Equal(t, want, order)

	// With a private network, the network's files are of no use.
	var private []string
	for _, e := range probeEtc(dir, false) {
		private = append(private, e.Path)
	}
	assert.Equal(t, []string{"services", "protocols", "localtime", "mime.types", "ssl/certs", "ssl/openssl.cnf"}, private)
}

// probeEtc runs before every sandbox starts.
func BenchmarkProbeEtc(b *testing.B) {
	for b.Loop() {
		probeEtc("/etc", false)
	}
}
