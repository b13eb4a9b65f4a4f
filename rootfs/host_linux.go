package rootfs

import (
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// topLevel are the names a merged-/usr system links into /usr and an older
// system keeps as real directories.
var topLevel = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// ProbeHost reads the facts Build needs about the host's root directory;
// the host's resolv.conf and the HostNet entries of HostEtc only when the
// sandbox shares the host's network.
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
	h.Etc = probeEtc("/etc", hostNet)
	if !hostNet {
		return h
	}
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil && len(b) < 64<<10 {
		h.ResolvConf = string(b)
	}
	return h
}

// maxEtcCopy is the largest allowlisted file copied rather than bound. A
// copy costs about 1 µs per KiB here (read, and copied twice more on its
// way into the sandbox's tmpfs), a bind about 50 µs (a mount at setup and
// at teardown) whatever the size; so services (13 KiB) is copied, and
// ld.so.cache and mime.types (36 and 74 KiB on Debian 12) are bound.
const maxEtcCopy = 16 << 10

// probeEtc finds the HostEtc entries under dir (the host's /etc) and how
// to show each. It never follows a symbolic link: a link is recreated and
// an entry beneath a linked directory is left out, because what the link
// points to on the host is not what the allowlist named. Other kinds of
// file (fifos, sockets, devices) are left out too. It runs on every run,
// so it spends few system calls: about four per entry.
func probeEtc(dir string, hostNet bool) []EtcEntry {
	var out []EtcEntry
	searchable := map[string]bool{}
	for _, a := range HostEtc {
		if a.HostNet && !hostNet {
			continue
		}
		if !parentsSearchable(dir, a.Path, searchable) {
			continue
		}
		if e, ok := probeEtcEntry(filepath.Join(dir, a.Path)); ok {
			e.Path = a.Path
			out = append(out, e)
		}
	}
	return out
}

// parentsSearchable reports whether each directory between dir and rel is
// a real directory anyone may search: a bind or a copy of rel would
// otherwise show PROG what the host hides behind it.
func parentsSearchable(dir, rel string, memo map[string]bool) bool {
	for p := path.Dir(rel); p != "."; p = path.Dir(p) {
		ok, seen := memo[p]
		if !seen {
			fi, err := os.Lstat(filepath.Join(dir, p))
			ok = err == nil && fi.IsDir() && fi.Mode().Perm()&0o001 != 0
			memo[p] = ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// probeEtcEntry opens p without following a link, so what it reads is what
// it looked at; O_NONBLOCK keeps a fifo from blocking the open. A regular
// file is copied when everyone may read it and it is small, and bound
// otherwise, so the host's permission check stays in force.
func probeEtcEntry(p string) (EtcEntry, bool) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err == syscall.ELOOP {
		target, err := os.Readlink(p)
		return EtcEntry{Kind: EtcLink, Data: target}, err == nil
	}
	if err != nil {
		return EtcEntry{}, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return EtcEntry{}, false
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return EtcEntry{Kind: EtcBind}, true
	case syscall.S_IFREG:
	default:
		return EtcEntry{}, false
	}
	perm := st.Mode & 0o777
	if perm&0o004 == 0 || st.Size > maxEtcCopy {
		return EtcEntry{Kind: EtcBind}, true
	}
	// One byte more than the size, to see a file that grew meanwhile; a
	// read of a regular file is short only at its end.
	b := make([]byte, st.Size+1)
	n, err := syscall.Read(fd, b)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, b)
	}
	if err != nil || n == len(b) {
		return EtcEntry{Kind: EtcBind}, true
	}
	return EtcEntry{Kind: EtcCopy, Data: string(b[:n]), Mode: perm &^ 0o222}, true
}
