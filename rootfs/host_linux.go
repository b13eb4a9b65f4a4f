package rootfs

import (
	"os"
	"path/filepath"
)

// topLevel are the names a merged-/usr system links into /usr and an older
// system keeps as real directories.
var topLevel = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// ProbeHost reads the facts Build needs about the host's root directory;
// the host's resolv.conf only when the sandbox shares the host's network.
func ProbeHost(hostNet bool) Host {
	h := Host{TopLinks: map[string]string{}}
	for _, name := range topLevel {
		p := filepath.Join("/", name)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if target, err := os.Readlink(p); err == nil {
				h.TopLinks[name] = target
			}
			continue
		}
		if fi.IsDir() {
			h.TopDirs = append(h.TopDirs, name)
		}
	}
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		h.LdCache = true
	}
	if fi, err := os.Stat("/etc/alternatives"); err == nil && fi.IsDir() {
		h.Alternatives = true
	}
	if !hostNet {
		return h
	}
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil && len(b) < 64<<10 {
		h.ResolvConf = string(b)
	}
	return h
}
