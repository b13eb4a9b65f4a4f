package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"jail/detached"
	"jail/idmap"
	"jail/image"
	"jail/kube"
	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
	"jail/verdict"
)

func newDoctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check what this host lets jail do, and how to fix what is missing",
		Long: `doctor runs real probes (a sandbox, an overlay mount, the cgroup backend) and
prints one line per feature: ok, warn (jail runs, with less) or FAIL (jail
cannot run), each with the fix. It exits 1 when something fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{out: cmd.OutOrStdout()}
			d.run(cmd.Context())
			if d.failed {
				return exitError{1}
			}
			return nil
		},
	}
}

type doctor struct {
	out    io.Writer
	failed bool
}

func (d *doctor) ok(what, detail string) { fmt.Fprintf(d.out, "ok    %-22s %s\n", what, detail) }
func (d *doctor) warn(what, detail string) {
	fmt.Fprintf(d.out, "warn  %-22s %s\n", what, detail)
}
func (d *doctor) fail(what, detail string) {
	d.failed = true
	fmt.Fprintf(d.out, "FAIL  %-22s %s\n", what, detail)
}

func (d *doctor) run(ctx context.Context) {
	d.kernel()
	works := d.sandbox(ctx, "user namespaces", "")
	d.pod(!works)
	d.sysctls()
	d.overlay(ctx)
	d.cgroups(ctx)
	d.seccomp()
	d.landlock()
	d.images()
	d.detachedSandboxes()
}

// pod names what a Kubernetes pod jail runs in lacks, by its field
// (docs/kubernetes.md).
func (d *doctor) pod(sandboxFails bool) {
	f := kube.Read()
	if !f.InPod {
		return
	}
	problems := f.Problems(sandboxFails)
	for _, p := range problems {
		d.fail("pod "+p.Field, p.Why+"; fix: "+p.Fix)
	}
	if len(problems) == 0 {
		d.ok("kubernetes pod", "its own user namespace, /proc unmasked, a writable cgroup tree")
	}
}

// detachedSandboxes says where jail run -d keeps state, and what logout
// does to it.
func (d *doctor) detachedSandboxes() {
	s, err := detached.Open()
	if err != nil {
		d.warn("detached sandboxes", err.Error())
		return
	}
	if w := detached.LingerWarning(userName()); w != "" {
		d.warn("detached sandboxes", w)
		return
	}
	d.ok("detached sandboxes", s.Root+" (jail run -d, ps, logs, stop)")
}

// images says where the image store is, whether an ordinary user may
// make the whiteouts image layers unpack into, and how deep an image this
// kernel stacks.
func (d *doctor) images() {
	root, err := image.DefaultRoot()
	if err != nil {
		d.warn("image store", err.Error())
	} else {
		d.ok("image store", root+" (set JAIL_STORE to move it)")
	}
	dir, err := os.MkdirTemp("", "jail-doctor-")
	if err != nil {
		d.warn("image whiteouts", err.Error())
		return
	}
	defer os.RemoveAll(dir)
	if err := unix.Mknod(filepath.Join(dir, "wh"), unix.S_IFCHR, 0); err != nil {
		d.fail("image whiteouts", fmt.Sprintf("making an overlayfs whiteout failed (%v): jail image import needs Linux 5.8 for layers that delete files", err))
	} else {
		d.ok("image whiteouts", "an ordinary user may make overlayfs whiteouts (layers' deletions)")
	}
	d.imageOwners()
	major, minor, rel := sandbox.KernelVersion()
	if (sandbox.KernelFeature{Major: 6, Minor: 8}).MissingIn(major, minor) {
		d.warn("image layers", fmt.Sprintf("Linux %s stacks about %d layers per image (one page of mount options); Linux 6.8's lowerdir+ stacks 500", rel, sandbox.MaxMountDataLayers))
	} else {
		d.ok("image layers", fmt.Sprintf("up to 500 layers per image (lowerdir+ past %d)", sandbox.MaxMountDataLayers))
	}
}

// imageOwners says whether a new image store keeps its files' owners,
// mapping them into this user's subordinate ids, and tries the mapping.
func (d *doctor) imageOwners() {
	ids, err := idmap.Subordinate()
	if err != nil {
		d.warn("image owners", "an image's files will all be yours (root inside), as "+err.Error())
		return
	}
	if err := ids.Probe(); err != nil {
		d.fail("image owners", "mapping this user's subordinate ids failed: "+err.Error())
		return
	}
	d.ok("image owners", "kept, in this user's subordinate ids: "+ids.String()+" (a store made before keeps what its store.json says)")
}

// kernelFeatures are the kernel versions jail's features need.
var kernelFeatures = append([]sandbox.KernelFeature{
	{Major: 5, Minor: 9, What: "close_range (required)"},
	{Major: 5, Minor: 12, What: "mount_setattr for read-only binds (required)"},
	{Major: 5, Minor: 14, What: "cgroup.kill"},
	{Major: 5, Minor: 19, What: "memory.peak for exact peak memory"},
	{Major: 6, Minor: 1, What: "pids.peak"},
}, sandbox.OverlayKernels...)

func (d *doctor) kernel() {
	major, minor, rel := sandbox.KernelVersion()
	var missing []string
	for _, f := range kernelFeatures {
		if f.MissingIn(major, minor) {
			missing = append(missing, fmt.Sprintf("%s needs %d.%d", f.What, f.Major, f.Minor))
		}
	}
	if len(missing) == 0 {
		d.ok("kernel", "Linux "+rel+": every feature jail uses is available")
		return
	}
	d.warn("kernel", "Linux "+rel+": "+strings.Join(missing, "; ")+"; fix: a newer kernel")
}

// sandbox runs `jail version` in a real sandbox; with rootfs set, on an
// overlay over that directory.
func (d *doctor) sandbox(ctx context.Context, what, rootDir string) bool {
	res, err := probe(ctx, rootDir, "/jail", "version")
	switch {
	case err != nil:
		d.fail(what, err.Error())
		return false
	case res.Verdict != verdict.OK:
		d.fail(what, fmt.Sprintf("a test run ended %s: %s", res.Verdict, res.Error))
		return false
	}
	d.ok(what, fmt.Sprintf("a test run worked (setup %.1fms)", float64(res.SetupTime)/1e6))
	return true
}

// probe runs argv in a sandbox with jail itself at /jail and, over a
// rootDir, the host's /usr.
func probe(ctx context.Context, rootDir string, argv ...string) (*sandbox.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec := &sandbox.Spec{Argv: argv, Dir: "/", Hostname: "jail", Net: sandbox.NetNone,
		UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Disk: sandbox.DefaultDisk, RootFS: rootDir,
		Binds: []rootfs.UserBind{{Source: exe, Target: "/jail"}}}
	if rootDir != "" {
		spec.Binds = append(spec.Binds, rootfs.UserBind{Source: "/usr", Target: "/usr"})
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	return sandbox.Run(ctx, spec, sandbox.IO{Stdin: null, Stdout: null, Stderr: null})
}

func (d *doctor) overlay(ctx context.Context) {
	dir, err := os.MkdirTemp("", "jail-doctor-")
	if err != nil {
		d.fail("overlay", err.Error())
		return
	}
	defer os.RemoveAll(dir)
	// Readable by the sandbox's user, whoever runs doctor.
	if err := os.Chmod(dir, 0o755); err != nil {
		d.fail("overlay", err.Error())
		return
	}
	// A root of links into the host's /usr, bound in: enough for the
	// host's dynamically linked binaries, as in a merged-/usr image.
	for name, target := range map[string]string{"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			d.fail("overlay", err.Error())
			return
		}
	}
	// A non-empty directory of the lower layer: removing it takes a
	// whiteout and an opaque directory, what EIO'd before userxattr.
	if err := os.MkdirAll(filepath.Join(dir, "probe", "sub"), 0o755); err != nil {
		d.fail("overlay", err.Error())
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "probe", "sub", "f"), nil, 0o644); err != nil {
		d.fail("overlay", err.Error())
		return
	}
	if d.sandbox(ctx, "overlay (--rootfs)", dir) {
		d.overlayDirs(ctx, dir)
	}
}

// overlayDirs removes a directory of the rootfs, as every build and
// package manager does.
func (d *doctor) overlayDirs(ctx context.Context, dir string) {
	const what, rm = "overlay directories", "/usr/bin/rm"
	if _, err := os.Stat(rm); err != nil {
		d.warn(what, "not probed: the probe runs the host's "+rm)
		return
	}
	res, err := probe(ctx, dir, rm, "-r", "/probe")
	switch {
	case err != nil:
		d.fail(what, err.Error())
	case res.Verdict == verdict.OK:
		d.ok(what, "removing a directory of the rootfs works (rename(2) of one is EXDEV on every kernel: mv and shutil.move copy)")
	default:
		why := fmt.Sprintf("rm -r ended %s with exit status %d", res.Verdict, res.ExitCode)
		for _, f := range sandbox.OverlayKernels {
			if f.Missing() {
				why += fmt.Sprintf("; this kernel lacks %s (Linux %d.%d); fix: a newer kernel", f.What, f.Major, f.Minor)
			}
		}
		d.warn(what, "removing a directory of the rootfs failed: "+why)
	}
}

func (d *doctor) cgroups(ctx context.Context) {
	det := limits.Detect(ctx, true)
	b := det.Backend
	if b == nil {
		d.warn("cgroups", "no cgroup backend: --mem, --cpu, --cpus and --pids are not enforced (--time, --wall, --output, --fsize and --nofile are); "+det.Why())
		return
	}
	d.ok("cgroups", fmt.Sprintf("backend %s with %s", b.Name(), strings.Join(b.Controllers(), " ")))
	for _, ctl := range slices.Sorted(maps.Keys(b.Missing())) {
		d.warn("cgroup "+ctl, "not delegated; fix: "+b.Missing()[ctl])
	}
}

func (d *doctor) seccomp() {
	major, minor, micro := libseccomp.GetLibraryVersion()
	api, err := libseccomp.GetAPI()
	if err != nil || api < 3 {
		d.warn("seccomp", fmt.Sprintf("libseccomp %d.%d.%d reports API level %d: %v", major, minor, micro, api, err))
		return
	}
	actions, _ := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if !strings.Contains(string(actions), "kill_process") {
		d.fail("seccomp", "the kernel lacks SECCOMP_RET_KILL_PROCESS (Linux 4.14); fix: a newer kernel with CONFIG_SECCOMP_FILTER")
		return
	}
	d.ok("seccomp", fmt.Sprintf("filters with kill_process, libseccomp %d.%d.%d (API %d)", major, minor, micro, api))
}

func (d *doctor) landlock() {
	what, missing := sandbox.LandlockSupport()
	switch {
	case what == "":
		d.warn("landlock", missing)
	case missing != "":
		d.warn("landlock", what+"; "+missing)
	default:
		d.ok("landlock", what)
	}
}

// sysctls reports the knobs distributions use to turn unprivileged user
// namespaces off.
func (d *doctor) sysctls() {
	checks := []struct{ file, bad, fix string }{
		{"kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"kernel/apparmor_restrict_unprivileged_userns", "1", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{"user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"},
	}
	for _, c := range checks {
		b, err := os.ReadFile("/proc/sys/" + c.file)
		if err != nil {
			continue
		}
		name := strings.ReplaceAll(c.file, "/", ".")
		if v := strings.TrimSpace(string(b)); v == c.bad {
			d.fail(name, "= "+v+" blocks unprivileged sandboxes; fix: "+c.fix)
		}
	}
}
