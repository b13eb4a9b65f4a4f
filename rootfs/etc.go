package rootfs

import (
	"path"
	"strings"
)

// HostEtc is every name of the host's /etc that PROG may see, relative to
// /etc, each with why a program needs it. Nothing else of the host's /etc
// reaches the sandbox: the generated passwd, group, hosts, hostname,
// nsswitch.conf and resolv.conf describe the sandbox, not the host, and
// the rest is either host configuration PROG has no use for or a secret.
// ProbeHost leaves out what the host does not have, and the HostNet
// entries unless the sandbox shares the host's network. Each entry costs
// every run some 10-50 µs (maxEtcCopy), so an entry must earn its place.
var HostEtc = []struct {
	Path, Why string
	HostNet   bool // only with --net host: it matters only for the network
}{
	{Path: "services", Why: "getservbyname: the port of a named service"},
	{Path: "protocols", Why: "getprotobyname: the number of an IP protocol"},
	{Path: "ld.so.cache", Why: "the dynamic linker's index of the libraries in /usr"},
	{Path: "alternatives", Why: "Debian's links from /usr/bin to the chosen java, c++, editor"},
	{Path: "localtime", Why: "the host's time zone, so local times print as outside"},
	{Path: "timezone", Why: "the time zone's name, which Debian's tools and Python's tzlocal read"},
	{Path: "os-release", Why: "which distribution this is, for programs that adapt to it"},
	{Path: "mime.types", Why: "file name extensions to MIME types (Python's mimetypes, web servers)"},
	{Path: "fonts/fonts.conf", Why: "fontconfig's font directories, all under /usr"},
	{Path: "ssl/certs", Why: "public CA certificates, for TLS with --net host"},
	{Path: "ssl/cert.pem", Why: "the CA bundle where OpenSSL builds without Debian's layout look"},
	{Path: "ssl/openssl.cnf", Why: "OpenSSL's defaults (security level, providers) as on the host"},
	{Path: "pki/tls/certs", Why: "public CA certificates on Fedora and RHEL"},
	{Path: "pki/tls/cert.pem", Why: "the CA bundle OpenSSL looks for on Fedora and RHEL"},
	{Path: "pki/ca-trust/extracted", Why: "the CA bundles Fedora's pki/tls/certs links into"},
	{Path: "pki/tls/openssl.cnf", Why: "OpenSSL's defaults on Fedora and RHEL"},
	{Path: "gai.conf", Why: "getaddrinfo's address order, so IPv4 and IPv6 sort as on the host", HostNet: true},
	{Path: "host.conf", Why: "resolver options glibc reads before looking up hosts", HostNet: true},
	{Path: "networks", Why: "getnetbyname: the resolver's network names", HostNet: true},
	{Path: "rpc", Why: "getrpcbyname: the number of a Sun RPC program", HostNet: true},
}

// SecretEtc are names under /etc that must never be reachable inside: no
// entry of HostEtc may be one of them, lie under one, or contain one
// (plan_test.go checks), and the integration tests look for each inside.
var SecretEtc = []string{
	"shadow", // password hashes, and their backups
	"shadow-",
	"gshadow",
	"gshadow-",
	"security/opasswd",
	"sudoers", // who may become root
	"sudoers.d",
	"doas.conf",
	"ssh",         // sshd's host keys
	"machine-id",  // a stable identifier of this host
	"ssl/private", // TLS private keys
	"pki/tls/private",
	"krb5.keytab", // Kerberos service keys
	"pip.conf",    // package index and login tokens
	"npmrc",
	"netrc",
	"NetworkManager/system-connections", // Wi-Fi and VPN passwords
	"wireguard",
	"ipsec.secrets",
	"docker", // daemon credentials and keys
	"containerd",
	"libvirt",
}

// etcOverlaps reports whether exposing the /etc entry a would expose b or
// anything under b.
func etcOverlaps(a, b string) bool {
	a, b = path.Clean(a), path.Clean(b)
	return a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// EtcKind is how ProbeHost found an allowlisted entry, which decides how
// Build shows it.
type EtcKind string

const (
	// EtcCopy is a small regular file anyone on the host may read: its
	// bytes are written into the sandbox's /etc without write permission,
	// which costs no mount. The copy is PROG's own on the run's tmpfs, so
	// PROG may chmod and change it, as any file it writes; the host's file
	// is never reachable.
	EtcCopy EtcKind = "copy"
	// EtcBind is a directory, or a file too large to copy or not readable
	// by everyone, bound read-only from the host, which keeps the host's
	// permissions.
	EtcBind EtcKind = "bind"
	// EtcLink is a symbolic link, recreated with the host's link text
	// rather than bound, which would follow it on the host. It resolves
	// inside the sandbox, so it reaches only what the plan put there (the
	// host's /usr, the rest of this /etc) and never a host file the
	// allowlist does not name.
	EtcLink EtcKind = "link"
)

// EtcEntry is one allowlisted entry present on the host.
type EtcEntry struct {
	Path string // relative to /etc, as in HostEtc
	Kind EtcKind
	Data string // EtcCopy: the contents; EtcLink: the link's text
	Mode uint32 // EtcCopy: the permission bits, write bits removed
}

// hostEtcOps shows the probed entries at their place in /etc.
func hostEtcOps(ops []Op, entries []EtcEntry) []Op {
	for _, e := range entries {
		target := "/etc/" + e.Path
		switch e.Kind {
		case EtcCopy:
			ops = append(ops, Op{Kind: File, Target: target, Data: e.Data, Mode: e.Mode})
		case EtcBind:
			ops = append(ops, Op{Kind: Bind, Source: target, Target: target})
		case EtcLink:
			ops = append(ops, Op{Kind: Symlink, Target: target, Data: e.Data})
		}
	}
	return ops
}
