package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is the user an image's config names, resolved in its own
// /etc/passwd and /etc/group.
type User struct {
	UID, GID uint32
	Home     string
}

// User resolves the config's User: see ResolveUser.
func (h *Held) User() (User, error) { return ResolveUser(h.Name, h.Layers, h.Config.User) }

// ResolveUser resolves an image's User ("", "name", "uid", "name:group",
// "uid:gid") in the /etc/passwd and /etc/group of its layers (lowest
// first): root when it is empty, as Docker runs an image.
func ResolveUser(imageName string, layers []string, spec string) (User, error) {
	u := User{Home: "/root"}
	if spec == "" {
		return u, nil
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	fail := func(format string, args ...any) (User, error) {
		return User{}, fmt.Errorf("image %s: its User %q: %s", imageName, spec, fmt.Sprintf(format, args...))
	}
	passwd, err := readEtc(layers, "passwd")
	if err != nil {
		return fail("%v", err)
	}
	found := false
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID, u.GID, u.Home = uint32(n), uint32(n), "/"
		found = true
	}
	for _, f := range passwd {
		if len(f) < 6 || (f[0] != name && !(found && f[2] == name)) {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return fail("its /etc/passwd line for %s has no numeric ids", f[0])
		}
		u.UID, u.GID, u.Home, found = uint32(uid), uint32(gid), f[5], true
		break
	}
	if !found {
		return fail("no such user in the image's /etc/passwd; give --uid")
	}
	if !hasGroup {
		return u, nil
	}
	if n, err := strconv.ParseUint(group, 10, 32); err == nil {
		u.GID = uint32(n)
		return u, nil
	}
	groups, err := readEtc(layers, "group")
	if err != nil {
		return fail("%v", err)
	}
	for _, f := range groups {
		if len(f) >= 3 && f[0] == group {
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				return fail("its /etc/group line for %s has no numeric id", group)
			}
			u.GID = uint32(gid)
			return u, nil
		}
	}
	return fail("no such group in the image's /etc/group; give --gid")
}

// readEtc reads etc/NAME from the topmost layer that has it, split into
// colon-separated fields. It is opened inside the layer without following
// any link, since the image chose it; an image whose file is a link, or
// was deleted by a later layer, resolves no names.
func readEtc(layers []string, name string) ([][]string, error) {
	for i := len(layers) - 1; i >= 0; i-- {
		root, err := os.Open(layers[i])
		if err != nil {
			return nil, err
		}
		how := &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		pfd, err := unix.Openat2(int(root.Fd()), "etc/"+name, how)
		if errors.Is(err, unix.ENOENT) {
			root.Close()
			continue
		}
		var st unix.Stat_t
		if err == nil {
			err = unix.Fstat(pfd, &st)
			unix.Close(pfd)
		}
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			root.Close()
			return nil, nil // a whiteout: deleted
		}
		fd := -1
		if err == nil {
			how.Flags = unix.O_RDONLY | unix.O_CLOEXEC
			fd, err = unix.Openat2(int(root.Fd()), "etc/"+name, how)
		}
		root.Close()
		if err != nil {
			return nil, fmt.Errorf("its /etc/%s (in layer %d): %w", name, i+1, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		var out [][]string
		sc := bufio.NewScanner(io.LimitReader(f, maxMeta))
		for sc.Scan() {
			if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, strings.Split(line, ":"))
			}
		}
		return out, sc.Err()
	}
	return nil, nil
}
