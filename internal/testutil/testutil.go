// Package testutil runs the jail binary the way a user would, as an
// unprivileged user, for the integration tests that attack the sandbox
// from inside.
//
// When the test process is root (as in CI), every run happens as the user
// "jailtest", created on first use, because a rootless sandbox must be
// tested rootless: root would hide missing privileges. The binary and the
// fixtures live in world-traversable temporary directories, because the
// checkout itself may sit below a home directory that user cannot enter.
package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestUser is the unprivileged account jail runs as when the tests run as
// root.
const TestUser = "jailtest"

// MustWork reports whether skipping is forbidden (JAIL_MUST_WORK=1, as in
// CI): a missing kernel feature must then fail the test instead of hiding
// the property it checks.
func MustWork() bool { return os.Getenv("JAIL_MUST_WORK") == "1" }

// Skip skips the test, or fails it when MustWork.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if MustWork() {
		t.Fatalf("JAIL_MUST_WORK=1 forbids skipping: "+format, args...)
	}
	t.Skipf(format, args...)
}

var (
	userOnce sync.Once
	userCred *syscall.Credential
	userErr  error
)

// testCredential returns the credential jail runs with: nil when the test
// is not root (jail runs as the current user), else the jailtest user's,
// created on first call.
func testCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Getuid() != 0 {
		return nil
	}
	userOnce.Do(func() { userCred, userErr = ensureUser() })
	if userErr != nil {
		Skip(t, "creating the unprivileged test user: %v", userErr)
	}
	return userCred
}

func ensureUser() (*syscall.Credential, error) {
	u, err := user.Lookup(TestUser)
	if err != nil {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			return nil, fmt.Errorf("no user %s and no useradd to create it: %w", TestUser, lerr)
		}
		out, aerr := exec.Command(useradd, "-m", TestUser).CombinedOutput()
		// Another test process may have created it meanwhile; the
		// lookup below decides.
		if u, err = user.Lookup(TestUser); err != nil {
			return nil, fmt.Errorf("useradd -m %s: %v: %s", TestUser, aerr, bytes.TrimSpace(out))
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing uid of %s: %w", TestUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing gid of %s: %w", TestUser, err)
	}
	// An empty Groups drops root's supplementary groups, which would
	// otherwise leak into the sandbox's ancestry.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// TestUID is the host uid jail runs as in these tests.
func TestUID(t testing.TB) int {
	t.Helper()
	if c := testCredential(t); c != nil {
		return int(c.Uid)
	}
	return os.Getuid()
}

// NeedRoot skips (or fails, under MustWork) unless the tests run as root,
// as in CI: why says what needs it (a setuid-root fixture, root's cgroup
// backends, jail started by root).
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		Skip(t, "%s needs the tests to run as root", why)
	}
}

// NeedUserNS skips (or fails, under MustWork) unless the user jail runs as
// can create a user namespace.
func NeedUserNS(t testing.TB) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		Skip(t, "no unshare(1) to probe user namespaces: %v", err)
	}
	cmd := exec.Command(unshare, "-Ur", "true")
	cmd.Dir = "/"
	if c := testCredential(t); c != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		Skip(t, "unprivileged user namespaces do not work here (unshare -Ur true: %v: %s)", err, bytes.TrimSpace(out))
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// jailBinary returns JAIL_BIN, or builds ./cmd/jail once per process.
func jailBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("JAIL_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "jail-build-"); err != nil {
			buildErr = fmt.Errorf("creating the build directory: %w", err)
			return
		}
		builtBin = filepath.Join(buildDir, "jail")
		cmd := exec.Command("go", "build", "-tags", "osusergo netgo", "-o", builtBin, "./cmd/jail")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/jail: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building jail: %v", buildErr)
	}
	return builtBin
}

// Main runs the tests and removes what the package built; call it from
// TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// ModuleRoot finds the directory of go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Jail is a copy of the jail binary in a directory the test user can
// reach, plus a place for fixtures and reports.
type Jail struct {
	// Bin is the host path of the copied binary.
	Bin string
	// Dir is the world-traversable directory holding everything.
	Dir string
	// Cred is the credential runs use; nil means the test's own.
	Cred *syscall.Credential

	fixtures string
	out      string
	n        atomic.Int64
}

// New copies the jail binary into a fresh directory for t.
func New(t testing.TB) *Jail {
	t.Helper()
	src := jailBinary(t)
	cred := testCredential(t)
	dir := t.TempDir()
	// t.TempDir makes its directory and the per-test parent 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("opening %s to the test user: %v", d, err)
		}
	}
	j := &Jail{Dir: dir, Cred: cred, fixtures: filepath.Join(dir, "fixtures"), out: filepath.Join(dir, "out")}
	for _, d := range []string{filepath.Join(dir, "bin"), j.fixtures, j.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("creating %s: %v", d, err)
		}
	}
	// The test user writes reports into out.
	j.Chown(t, j.out)
	j.Bin = filepath.Join(dir, "bin", "jail")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("reading the jail binary: %v", err)
	}
	if err := os.WriteFile(j.Bin, b, 0o755); err != nil {
		t.Fatalf("copying the jail binary: %v", err)
	}
	return j
}

// Chown gives path to the test user (a no-op when not root).
func (j *Jail) Chown(t testing.TB, path string) {
	t.Helper()
	if j.Cred == nil {
		return
	}
	if err := os.Lchown(path, int(j.Cred.Uid), int(j.Cred.Gid)); err != nil {
		t.Fatalf("chown %s to the test user: %v", path, err)
	}
}

// Fixture writes content to name (slash-separated, below the fixture
// directory) with mode, owned by the test user, and returns its host path.
func (j *Jail) Fixture(t testing.TB, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(j.fixtures, filepath.FromSlash(name))
	j.mkdirs(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatalf("writing fixture %s: %v", name, err)
	}
	// WriteFile's mode passes through the umask.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatalf("chmod fixture %s: %v", name, err)
	}
	j.Chown(t, p)
	return p
}

// FixtureDir creates an empty directory owned by the test user below the
// fixture directory and returns its host path.
func (j *Jail) FixtureDir(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(j.fixtures, filepath.FromSlash(name))
	j.mkdirs(t, p)
	return p
}

func (j *Jail) mkdirs(t testing.TB, dir string) {
	t.Helper()
	rel, err := filepath.Rel(j.fixtures, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("fixture path %s escapes the fixture directory", dir)
	}
	cur := j.fixtures
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "." {
			continue
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatalf("creating fixture directory %s: %v", cur, err)
		}
		j.Chown(t, cur)
	}
}

// Report is the part of jail's JSON result the tests look at.
type Report struct {
	Verdict     string  `json:"verdict"`
	ExitCode    int     `json:"exit_code"`
	Signal      string  `json:"signal"`
	Reason      string  `json:"reason"`
	Interrupted bool    `json:"interrupted"`
	WallTime    float64 `json:"wall_time"`
	CPUUser     float64 `json:"cpu_user"`
	CPUSys      float64 `json:"cpu_sys"`
	PeakMemory  int64   `json:"peak_memory"`
	Error       string  `json:"error"`

	LimitHit         string   `json:"limit_hit"`
	PeakMemorySource string   `json:"peak_memory_source"`
	PeakPids         int64    `json:"peak_pids"`
	OOMKills         int64    `json:"oom_kills"`
	LimitBackend     string   `json:"limit_backend"`
	Controllers      []string `json:"controllers"`
	Warnings         []string `json:"warnings"`
	Syscall          string   `json:"syscall"`
	Denied           []struct {
		Syscall string `json:"syscall"`
		Count   int    `json:"count"`
	} `json:"denied"`
	SetupTime float64 `json:"setup_time"`
	// Stages are the seconds each stage of the run took, by name.
	Stages      map[string]float64 `json:"stages"`
	SyscallArch string             `json:"syscall_arch"`
	Isolation   struct {
		UID      uint32 `json:"uid"`
		GID      uint32 `json:"gid"`
		HostUID  int    `json:"host_uid"`
		Landlock string `json:"landlock"`
		Root     string `json:"root"`
	} `json:"isolation"`
	// Step names a language profile's step ("compile", "run"); the run
	// step's report carries the compile step's as Compile.
	Step    string  `json:"step"`
	Compile *Report `json:"compile"`
}

// Result is what one jail invocation did.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
	// Report is nil when jail wrote none (e.g. a bad flag).
	Report *Report
}

func (r Result) String() string {
	return fmt.Sprintf("exit=%d report=%+v\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Report, r.Stdout, r.Stderr)
}

// Opts adjusts one invocation.
type Opts struct {
	// Stdin is jail's standard input; empty input when nil.
	Stdin io.Reader
	// Env is added to jail's own environment (which is the test's).
	Env []string
	// ExtraFiles are inherited by jail as fds 3, 4, ...
	ExtraFiles []*os.File
	// AsCaller runs jail as the test process's own user, even root.
	AsCaller bool
	// Stderr and Stdout, when set, are jail's standard error and output
	// (a terminal, say); the Result's are then empty.
	Stderr, Stdout *os.File
	// Ctty makes Stdin, a terminal, jail's controlling terminal, in a
	// session of its own, as a login shell's is.
	Ctty bool
}

// Running is a started jail.
type Running struct {
	Cmd            *exec.Cmd
	report         string
	stdout, stderr bytes.Buffer
}

// Run runs jail with args (the first is the subcommand) and waits for it.
func (j *Jail) Run(t testing.TB, args ...string) Result {
	t.Helper()
	return j.RunWith(t, Opts{}, args...)
}

// RunWith is Run with options.
func (j *Jail) RunWith(t testing.TB, o Opts, args ...string) Result {
	t.Helper()
	return j.Start(t, o, args...).Wait(t)
}

// Start starts jail without waiting. After "run" it inserts --report with a
// fresh file the test user can write, so every run's Result has a Report.
func (j *Jail) Start(t testing.TB, o Opts, args ...string) *Running {
	t.Helper()
	r := &Running{report: filepath.Join(j.out, fmt.Sprintf("report-%d.json", j.n.Add(1)))}
	if len(args) > 0 && args[0] == "run" {
		args = append([]string{"run", "--report", r.report}, args[1:]...)
	}
	cmd := exec.Command(j.Bin, args...)
	cmd.Dir = j.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	if j.Cred != nil && !o.AsCaller {
		// The test user's own home, as login would set it, not root's.
		cmd.Env = append(cmd.Env, "HOME=/nonexistent", "XDG_CONFIG_HOME=")
	}
	cmd.Stdin = o.Stdin
	cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	cmd.ExtraFiles = o.ExtraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: o.Ctty, Setctty: o.Ctty}
	if j.Cred != nil && !o.AsCaller {
		cmd.SysProcAttr.Credential = j.Cred
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", j.Bin, err)
	}
	r.Cmd = cmd
	return r
}

// Wait waits for the run and collects its Result.
func (r *Running) Wait(t testing.TB) Result {
	t.Helper()
	res, err := r.WaitErr()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// WaitErr is Wait for a goroutine other than the test's own, which must
// not end the test with t.Fatal.
func (r *Running) WaitErr() (Result, error) {
	err := r.Cmd.Wait()
	res := Result{Stdout: r.stdout.String(), Stderr: r.stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.ExitCode = ee.ExitCode()
	default:
		return res, fmt.Errorf("running jail: %w\nstderr: %s", err, res.Stderr)
	}
	b, err := os.ReadFile(r.report)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return res, fmt.Errorf("reading the jail report: %w", err)
	default:
		res.Report = &Report{}
		if err := json.Unmarshal(b, res.Report); err != nil {
			return res, fmt.Errorf("parsing the jail report %q: %w", b, err)
		}
	}
	return res, nil
}

// ProcStat reads a process's command name and parent from /proc/PID/stat;
// ok is false for a process that is gone.
func ProcStat(pid int) (comm string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return string(b[open+1 : end]), ppid, err == nil
}
