// Package detached keeps sandboxes that outlive the command that started
// them (jail run -d), without a daemon: each has a monitor, a process of
// the user's own outside the sandbox, that runs it as jail run would,
// writes its log and its state, and answers a control socket. If the
// monitor dies the sandbox dies with it, since the sandbox's init lives
// only as long as the process that started it.
//
// State lives in $XDG_RUNTIME_DIR/jail/sandboxes (mode 0700), one
// directory per sandbox, named by its id:
//
//	state.json   written by the monitor alone, atomically
//	ctl.sock     the monitor's control socket, while it runs
//	log, log.1   PROG's output, as docker's json-file lines, rotated
//	monitor.log  the monitor's own messages
package detached

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"jail/idmap"
)

// Statuses, as docker ps spells them.
const (
	Created    = "created"
	Running    = "running"
	Restarting = "restarting"
	Exited     = "exited"
)

// RestartPolicy is --restart: no, on-failure[:Max] or always.
type RestartPolicy struct {
	Policy string `json:"policy,omitempty"`
	// Max bounds on-failure's restarts; 0 does not.
	Max int `json:"max,omitempty"`
}

// ParseRestart reads --restart.
func ParseRestart(v string) (RestartPolicy, error) {
	name, max, hasMax := strings.Cut(v, ":")
	p := RestartPolicy{Policy: name}
	switch {
	case name == "no" || name == "always":
		if hasMax {
			return p, fmt.Errorf("--restart %q: only on-failure takes a count", v)
		}
		return p, nil
	case name == "on-failure":
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || n < 1 {
				return p, fmt.Errorf("--restart %q: the count is a number of restarts, at least 1", v)
			}
			p.Max = n
		}
		return p, nil
	}
	return p, fmt.Errorf("--restart %q: choose no, on-failure[:N] or always", v)
}

// State is a sandbox as its monitor last wrote it.
type State struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Args are jail run's arguments, flags and then PROG, which the
	// monitor runs; Command is PROG and its arguments, for show.
	Args    []string `json:"args"`
	Command []string `json:"command"`
	Image   string   `json:"image,omitempty"`
	// Remove has the monitor remove the sandbox once PROG ends (--rm).
	Remove bool `json:"remove,omitempty"`
	// Dir is where jail run -d ran, where its flags' paths are read.
	Dir string `json:"dir"`
	// Upper keeps what PROG writes to an image's or a --rootfs root, so
	// that it outlives a stop; files there may belong to UpperIDs' users.
	Upper    string     `json:"upper,omitempty"`
	UpperIDs *idmap.IDs `json:"upper_ids,omitempty"`
	// TTY: PROG runs on a terminal the monitor holds (-t), which jail
	// attach attaches to.
	TTY bool `json:"tty,omitempty"`
	// Ports are the -p mappings the monitor relays.
	Ports []Port `json:"ports,omitempty"`
	// Restart is --restart; RestartCount how often the monitor has run
	// PROG again since it started.
	Restart      RestartPolicy `json:"restart,omitzero"`
	RestartCount int           `json:"restart_count,omitempty"`

	Status     string    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	MonitorPid int       `json:"monitor_pid,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	ExitCode   int       `json:"exit_code"`
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	// Error says why PROG could not start, or why it ended other than by
	// itself (the monitor gone, the machine restarted, a stop).
	Error string `json:"error,omitempty"`
	// Result is jail run's JSON result of PROG's run, once it ended.
	Result json.RawMessage `json:"result,omitempty"`
	// BootID is the kernel's boot id when the monitor started: a state
	// from before a restart reads as exited, never as running.
	BootID string `json:"boot_id"`
}

// Store is the user's detached sandboxes.
type Store struct{ Root string }

// Open opens the user's store, making it if need be; a directory another
// user owns, or that others may enter, is refused.
func Open() (*Store, error) {
	run := os.Getenv("XDG_RUNTIME_DIR")
	if run == "" || !filepath.IsAbs(run) {
		return nil, errors.New("detached sandboxes live in $XDG_RUNTIME_DIR, which is not set: log in with a session (loginctl enable-linger USER for one without), or set XDG_RUNTIME_DIR to a directory of your own with mode 0700")
	}
	return OpenAt(filepath.Join(run, "jail", "sandboxes"))
}

// OpenAt opens the store at root.
func OpenAt(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox state %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil, err
	}
	if st.Uid != uint32(os.Getuid()) || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("sandbox state %s belongs to uid %d with mode %o: it must be a directory of yours with mode 0700 (remove it, or set XDG_RUNTIME_DIR to one)",
			root, st.Uid, st.Mode&0o7777)
	}
	return &Store{Root: root}, nil
}

// lock holds the store's lock, which name checks and removals take.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, ".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Dir is the directory of the sandbox id.
func (s *Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// validName is docker's rule for names, at most 128 long. Not a regexp:
// compiling `{0,127}` unrolls it, which cost every jail process 0.75 ms
// and 1,700 allocations before main.
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// Create makes the directory of a new sandbox for st, with a new id and
// st.Name (or a name made from the id), refused when the name is taken.
func (s *Store) Create(st *State) error {
	if st.Name != "" && !validName(st.Name) {
		return fmt.Errorf("--name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 128)", st.Name)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	list, _, err := s.list()
	if err != nil {
		return err
	}
	var b [32]byte
	rand.Read(b[:])
	st.ID = hex.EncodeToString(b[:])
	if st.Name == "" {
		st.Name = "jail-" + st.ID[:12]
	}
	for _, e := range list {
		if e.State.Name == st.Name {
			return fmt.Errorf("--name %q is taken by sandbox %s: choose another, or remove it (jail rm %s)", st.Name, e.State.ID[:12], st.Name)
		}
	}
	if err := os.Mkdir(s.Dir(st.ID), 0o700); err != nil {
		return err
	}
	st.Created, st.Status, st.BootID = time.Now().UTC(), Created, BootID()
	return WriteState(s.Dir(st.ID), st)
}

// WriteState replaces dir's state.json with st, atomically.
func WriteState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

// Entry is a sandbox of the store.
type Entry struct {
	Dir   string
	State State
}

// Running says the sandbox's monitor is there to answer.
func (e *Entry) Running() bool {
	return e.State.Status == Running || e.State.Status == Created || e.State.Status == Restarting
}

// read reads dir's state, and says how a sandbox whose monitor is gone
// ended: one that still reads as running did not end by itself.
func read(dir string) (*Entry, error) {
	e, err := readState(dir)
	if err != nil || !e.Running() {
		return e, err
	}
	switch {
	case e.State.BootID != BootID():
		e.State.Status, e.State.Error = Exited, "the machine restarted while it ran"
	case !monitorAlive(dir):
		// A monitor writes the final state before it closes its
		// socket: one that ended between the two reads says so now.
		if e, err = readState(dir); err != nil || !e.Running() {
			return e, err
		}
		e.State.Status, e.State.Error = Exited, "its monitor died (killed?), and the sandbox with it"
	default:
		return e, nil
	}
	if e.State.FinishedAt.IsZero() {
		e.State.FinishedAt = time.Now().UTC()
	}
	e.State.ExitCode = 137
	return e, nil
}

func readState(dir string) (*Entry, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	e := &Entry{Dir: dir}
	if err := json.Unmarshal(b, &e.State); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if e.State.ID != filepath.Base(dir) {
		return nil, fmt.Errorf("%s: it names sandbox %q, not its directory's", filepath.Join(dir, "state.json"), e.State.ID)
	}
	return e, nil
}

// monitorAlive says a monitor answers at dir's control socket: a dead
// one leaves a socket nothing listens on.
func monitorAlive(dir string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return withSocketPath(dir, func(p string) error { return unix.Connect(fd, &unix.SockaddrUnix{Name: p}) }) == nil
}

// List is every sandbox of the store, newest first. A directory whose
// state cannot be read is reported in the errors and left out.
func (s *Store) List() ([]*Entry, []error) {
	list, bad, err := s.list()
	if err != nil {
		return nil, []error{err}
	}
	return list, bad
}

func (s *Store) list() (out []*Entry, bad []error, _ error) {
	ents, err := os.ReadDir(s.Root)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ents {
		if !d.IsDir() || !isID(d.Name()) {
			continue
		}
		e, err := read(s.Dir(d.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // being made or removed
		}
		if err != nil {
			bad = append(bad, fmt.Errorf("sandbox %s: %w (remove it: jail rm -f %s)", d.Name()[:12], err, d.Name()[:12]))
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Entry) int { return b.State.Created.Compare(a.State.Created) })
	return out, bad, nil
}

func isID(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// Find is the sandbox ref names: its name, its id, or a unique prefix of
// its id.
func (s *Store) Find(ref string) (*Entry, error) {
	list, _, err := s.list()
	if err != nil {
		return nil, err
	}
	var byPrefix []*Entry
	for _, e := range list {
		if e.State.Name == ref || e.State.ID == ref {
			return e, nil
		}
		if ref != "" && strings.HasPrefix(e.State.ID, ref) {
			byPrefix = append(byPrefix, e)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		if isID(ref) || len(ref) >= 12 {
			if _, err := os.Stat(s.Dir(ref)); err == nil {
				return nil, fmt.Errorf("sandbox %q: its state cannot be read (remove it: jail rm -f %s)", ref, ref)
			}
		}
		return nil, fmt.Errorf("no sandbox %q: see jail ps -a", ref)
	}
	return nil, fmt.Errorf("%q is the start of %d sandboxes' ids: give more of it, or the name", ref, len(byPrefix))
}

// RemoveUnreadable removes the directory of the sandbox id (in full, or
// a unique prefix) whose state cannot be read, unless a monitor still
// answers there: jail rm -f of a damaged sandbox.
func (s *Store) RemoveUnreadable(ref string) error {
	ents, err := os.ReadDir(s.Root)
	if err != nil {
		return err
	}
	var found []string
	for _, d := range ents {
		if isID(d.Name()) && strings.HasPrefix(d.Name(), ref) && len(ref) >= 4 {
			found = append(found, d.Name())
		}
	}
	if len(found) != 1 {
		return fmt.Errorf("no sandbox %q: see jail ps -a", ref)
	}
	if monitorAlive(s.Dir(found[0])) {
		return fmt.Errorf("sandbox %s: its state cannot be read, and its monitor still runs: end it (pkill -f 'jail __monitor .*%s') and remove it again", ref, found[0])
	}
	return s.RemoveDir(found[0])
}

// RemoveDir removes the sandbox's directory.
func (s *Store) RemoveDir(id string) error {
	if !isID(id) {
		return fmt.Errorf("%q is not a sandbox id", id)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return os.RemoveAll(s.Dir(id))
}

// Remove removes an ended sandbox: its writable layer, then its state.
func (s *Store) Remove(e *Entry) error {
	if up := e.State.Upper; up != "" {
		err := os.RemoveAll(up)
		if err != nil && e.State.UpperIDs != nil {
			// Files the image's other users wrote.
			err = e.State.UpperIDs.RemoveAll(up)
		}
		if err != nil {
			return fmt.Errorf("removing its writable layer %s: %w", up, err)
		}
	}
	return s.RemoveDir(e.State.ID)
}

// UpperDir is where the sandbox id keeps its writable layer: under the
// user's data directory, which outlives a reboot as the runtime
// directory does not.
func UpperDir(id string) (string, error) {
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" || !filepath.IsAbs(data) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no data directory for the sandbox's writable layer: set XDG_DATA_HOME or HOME (%v)", err)
		}
		data = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(data, "jail", "sandboxes", id), nil
}

// BootID is the kernel's id of this boot.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// withSocketPath calls use with a path of dir's control socket short
// enough for a unix socket address (108 bytes), which dir's own may not
// be: through a descriptor of dir.
func withSocketPath(dir string, use func(path string) error) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return use(fmt.Sprintf("/proc/self/fd/%d/ctl.sock", fd))
}

// Where systemd says it runs, and keeps the users whose manager lingers.
var (
	SystemdRunDir = "/run/systemd/system"
	LingerDir     = "/var/lib/systemd/linger"
)

// LingerWarning says what becomes of detached sandboxes at logout, when
// systemd manages the user's sessions and does not linger for user
// (empty when it lingers, or systemd is not there): their state goes
// with $XDG_RUNTIME_DIR, and the sandboxes too where logind kills a
// user's processes at logout.
func LingerWarning(user string) string {
	if _, err := os.Stat(SystemdRunDir); err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(LingerDir, user)); err == nil {
		return ""
	}
	return fmt.Sprintf("systemd ends %s's user manager when the last session ends, and removes $XDG_RUNTIME_DIR with the sandboxes' state (and the sandboxes themselves where logind's KillUserProcesses=yes): loginctl enable-linger %s keeps them", user, user)
}
