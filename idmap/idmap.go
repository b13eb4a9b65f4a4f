// Package idmap gives a user namespace the ids an administrator handed
// the caller in /etc/subuid and /etc/subgid, as podman and buildah do:
// the caller's own id is 0 inside and its subordinate ranges follow from
// 1, so an image's files keep their owners. Only the setuid helpers
// newuidmap and newgidmap (Debian's uidmap package) may write such maps;
// without a range or a helper, a sandbox maps the caller's one id.
package idmap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// Range maps Count ids from Inner inside to Outer outside.
type Range struct {
	Inner uint32 `json:"inner"`
	Outer uint32 `json:"outer"`
	Count uint32 `json:"count"`
}

// Map is one kind of id's ranges, in the order a uid_map lists them.
type Map []Range

// IDs are a namespace's user and group id maps.
type IDs struct {
	UID Map `json:"uid"`
	GID Map `json:"gid"`
}

// Contains says inner is mapped.
func (m Map) Contains(inner uint32) bool {
	_, ok := m.Outer(inner)
	return ok
}

// Outer is the id outside that inner stands for.
func (m Map) Outer(inner uint32) (uint32, bool) {
	for _, r := range m {
		if inner >= r.Inner && inner-r.Inner < r.Count {
			return r.Outer + (inner - r.Inner), true
		}
	}
	return 0, false
}

// Size is how many ids inside are mapped.
func (m Map) Size() uint64 {
	var n uint64
	for _, r := range m {
		n += uint64(r.Count)
	}
	return n
}

// args are m as newuidmap takes it after the pid.
func (m Map) args() []string {
	var a []string
	for _, r := range m {
		a = append(a, strconv.FormatUint(uint64(r.Inner), 10), strconv.FormatUint(uint64(r.Outer), 10),
			strconv.FormatUint(uint64(r.Count), 10))
	}
	return a
}

// Equal says both maps are the same.
func (ids *IDs) Equal(o *IDs) bool {
	if ids == nil || o == nil {
		return ids == o
	}
	return slices.Equal(ids.UID, o.UID) && slices.Equal(ids.GID, o.GID)
}

// String is the maps as /etc/subuid spells ranges: "uid 0=1001 1-65536=100000, gid …".
func (ids *IDs) String() string {
	if ids == nil {
		return "one id"
	}
	f := func(m Map) string {
		var parts []string
		for _, r := range m {
			if r.Count == 1 {
				parts = append(parts, fmt.Sprintf("%d=%d", r.Inner, r.Outer))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d=%d-%d", r.Inner, r.Inner+r.Count-1, r.Outer, r.Outer+r.Count-1))
			}
		}
		return strings.Join(parts, " ")
	}
	return "uid " + f(ids.UID) + ", gid " + f(ids.GID)
}

// Files are where the ranges and the helpers are looked for; tests point
// them elsewhere.
var (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// ErrNone is why Subordinate found no maps, with the fix in its text.
var ErrNone = errors.New("no subordinate ids")

// Subordinate is the caller's own id mapped to 0 and its subordinate
// ranges from 1 on. It fails with an error wrapping ErrNone that says
// what to install or add when the caller has no range or no helper;
// root, who may write any map itself, gets ErrNone too, as jail maps
// root to the overflow id.
func Subordinate() (*IDs, error) {
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		return nil, fmt.Errorf("%w: jail runs as root, whose sandboxes map one id", ErrNone)
	}
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	uids, err := ranges(SubUIDFile, name, uid)
	if err != nil {
		return nil, err
	}
	gids, err := ranges(SubGIDFile, name, uid)
	if err != nil {
		return nil, err
	}
	if len(uids) == 0 || len(gids) == 0 {
		return nil, fmt.Errorf("%w: %s or %s gives %s no range (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)",
			ErrNone, SubUIDFile, SubGIDFile, name, name)
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := helperPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s is not installed (Debian and Ubuntu: apt-get install uidmap)", ErrNone, tool)
		}
	}
	return &IDs{UID: withOwn(uint32(uid), uids), GID: withOwn(uint32(gid), gids)}, nil
}

// withOwn puts own at 0 and the ranges after it, one inner id after
// another, as far as 32 bits go.
func withOwn(own uint32, rs []Range) Map {
	m := Map{{Inner: 0, Outer: own, Count: 1}}
	next := uint64(1)
	for _, r := range rs {
		if next+uint64(r.Count) > 1<<32-1 {
			break
		}
		m = append(m, Range{Inner: uint32(next), Outer: r.Outer, Count: r.Count})
		next += uint64(r.Count)
	}
	return m
}

// ranges are the lines of file (NAME:START:COUNT) for name or uid, as
// newuidmap reads them. A missing file is no range.
func ranges(file, name string, uid int) ([]Range, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Range
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) != 3 || fields[0] != name && fields[0] != strconv.Itoa(uid) {
			continue
		}
		start, err1 := strconv.ParseUint(fields[1], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue // newuidmap skips such a line too
		}
		out = append(out, Range{Outer: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// helperPath finds newuidmap or newgidmap where Debian puts them even
// when PATH is a sandbox's or cron's.
func helperPath(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/bin/", "/usr/sbin/", "/bin/"} {
		if st, err := os.Stat(d + tool); err == nil && st.Mode().IsRegular() {
			return d + tool, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}

// Own maps the caller alone, to 0: a helper's ids where there are no
// subordinate ones.
func Own() *IDs {
	return &IDs{UID: Map{{Inner: 0, Outer: uint32(os.Getuid()), Count: 1}},
		GID: Map{{Inner: 0, Outer: uint32(os.Getgid()), Count: 1}}}
}

// own says ids map the caller alone, which it may write itself.
func (ids *IDs) own() bool { return ids.Equal(Own()) }

// Apply writes ids as the maps of the user namespace process pid is in,
// which must not have any yet: the caller's own id itself, subordinate
// ranges through newuidmap and newgidmap.
func (ids *IDs) Apply(pid int) error {
	if ids.own() {
		return writeOwn(pid, ids)
	}
	// The two are independent, and each is an exec of a setuid binary
	// that reads its file: at the same time, the run waits for one.
	var uidErr error
	done := make(chan struct{})
	go func() {
		uidErr = runHelper("newuidmap", pid, ids.UID, SubUIDFile)
		close(done)
	}()
	gidErr := runHelper("newgidmap", pid, ids.GID, SubGIDFile)
	<-done
	return errors.Join(uidErr, gidErr)
}

// runHelper has tool (newuidmap or newgidmap) write m for process pid.
func runHelper(tool string, pid int, m Map, file string) error {
	p, err := helperPath(tool)
	if err != nil {
		return fmt.Errorf("%w (Debian and Ubuntu: apt-get install uidmap)", err)
	}
	out, err := exec.Command(p, append([]string{strconv.Itoa(pid)}, m.args()...)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s refused the map %v: %s (check %s and that %s is setuid root: ls -l %s)",
			tool, m.args(), msg, file, p, p)
	}
	return nil
}

// writeOwn writes a map of the caller's own ids, which the kernel lets an
// ordinary user write once setgroups is denied.
func writeOwn(pid int, ids *IDs) error {
	dir := fmt.Sprintf("/proc/%d/", pid)
	for _, w := range []struct{ file, data string }{
		{"setgroups", "deny"},
		{"uid_map", fmt.Sprintf("0 %d 1\n", ids.UID[0].Outer)},
		{"gid_map", fmt.Sprintf("0 %d 1\n", ids.GID[0].Outer)},
	} {
		f, err := os.OpenFile(dir+w.file, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(w.data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("mapping the helper's ids: %s: %w", w.file, err)
		}
	}
	return nil
}
