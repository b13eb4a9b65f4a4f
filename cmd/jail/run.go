package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"jail/limits"
	"jail/profiles"
	"jail/rootfs"
	"jail/sandbox"
)

// runFlags are the flags of `jail run`, as typed.
type runFlags struct {
	rootfs, workdir, hostname, net, disk string
	volumes, env, envFiles               []string
	uid, gid                             uint32
	tty, interactive                     bool
	jsonOut, verbose                     bool
	report                               string
	stopTimeout                          string
	// detach, name and remove are -d, --name and --rm; monitored says
	// the monitor of a detached sandbox parsed them.
	detach, remove, monitored bool
	name, restart             string
	publish                   []string
	// signals routes jail's signals to PROG while it runs.
	signals *signalRouter

	// lim holds each limit flag as typed, by limits.Field name.
	lim    map[string]string
	strict bool

	seccomp    string
	seccompLog bool

	// profile is --profile resolved; its mounts and environment come
	// before the flags', its other values hold where no flag is typed.
	profileName string
	profile     *profiles.Profile
	printConfig bool

	// imageName is --image; image is it held (heldImage), until release.
	imageName string
	image     *profiles.Image
	release   func()

	// fl tells which flags the user typed; nil (in tests) counts every
	// value as typed.
	fl *pflag.FlagSet
}

func newRunCommand() *cobra.Command {
	f := &runFlags{lim: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "run [flags] -- PROG [ARGS...]",
		Short: "Run PROG in a sandbox",
		Long: `Run PROG in a sandbox and exit with its status.

Exit status: PROG's own; 128+N when PROG died of signal N; 125 when the
sandbox could not be set up; 126 when PROG cannot be executed; 127 when PROG
is not found inside the sandbox.

Without --rootfs the sandbox root is a private tmpfs with the host's /usr
read-only (and /bin, /lib... as on a merged-/usr system) and a generated /etc.
Writes anywhere go to a tmpfs of --disk bytes and vanish with the run.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !cmd.Flags().Changed("image") {
				return fmt.Errorf("no program given: write it after --, as in: jail run -- /bin/echo hello")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.fl = cmd.Flags()
			defer f.releaseImage()
			return runMain(cmd.Context(), f, cmd.Flags(), args)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	f.defineRunFlags(fl)
	fl.BoolVarP(&f.detach, "detach", "d", false, "run in the background under a monitor of its own, print the sandbox's id and return once PROG has started (jail ps, logs, stop, rm)")
	fl.StringVar(&f.name, "name", "", "with -d: the sandbox's `NAME` (default: jail-ID)")
	fl.BoolVar(&f.remove, "rm", false, "with -d: remove the sandbox once PROG ends")
	fl.StringVar(&f.restart, "restart", "no", "with -d: run PROG again when it ends: `no`, on-failure[:N] (a nonzero exit, at most N times) or always; never after jail stop")
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "with -d: relay the host's `[IP:]HOSTPORT:PORT[/tcp|/udp]` (IP 127.0.0.1 unless given) to PORT inside, without a network of the host's")
	return cmd
}

// defineRunFlags defines jail run's flags but those of -d, which a
// detached sandbox's monitor parses again.
func (f *runFlags) defineRunFlags(fl *pflag.FlagSet) {
	f.defineSandboxFlags(fl, "")
	fl.BoolVarP(&f.tty, "tty", "t", false, "give PROG a pseudo-terminal (needs a terminal on stdin)")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "accepted for docker compatibility: stdin is always passed to PROG")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as one JSON object on stderr when PROG ends")
	fl.StringVar(&f.report, "report", "", "write the JSON result to `FILE`")
	fl.BoolVar(&f.verbose, "verbose", false, "print a one-line summary of the result on stderr")
	fl.BoolVar(&f.printConfig, "print-config", false, "print the effective configuration (profile and flags) as JSON and exit without running")
	fl.StringVar(&f.stopTimeout, "stop-timeout", DefaultStopTimeout.String(), "after jail passes SIGINT, SIGTERM, SIGHUP or SIGQUIT on to PROG, kill the sandbox if PROG is still running after `DURATION` (0: at once), or at a second such signal")
}

// defineSandboxFlags defines the flags that shape a sandbox, shared by
// `jail run` and `jail judge`; the limit flags' help says whose limits
// they are (for judge, each test's).
func (f *runFlags) defineSandboxFlags(fl *pflag.FlagSet, limitsOf string) {
	fl.StringVar(&f.rootfs, "rootfs", "", "prebuilt root directory, the read-only lower layer of an overlay (default: the host's /usr)")
	fl.StringVar(&f.imageName, "image", "", "run in the image `NAME[:TAG]` of the store (jail image ls); without PROG, its Entrypoint and Cmd")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount `SRC:DST[:ro|rw]` (read-only unless :rw)")
	fl.StringVarP(&f.workdir, "workdir", "w", profiles.DefaultWorkdir, "working `DIR` inside the sandbox")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set `KEY=VALUE` (or pass the host's KEY with -e KEY)")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "read KEY=VALUE lines from `FILE`")
	fl.StringVar(&f.hostname, "hostname", profiles.DefaultHostname, "host name inside the sandbox")
	fl.StringVar(&f.net, "net", string(sandbox.NetNone), "network: none (only loopback) or host")
	fl.Uint32Var(&f.uid, "uid", sandbox.DefaultUID, "user id PROG runs as inside the sandbox (0 only if you ask)")
	fl.Uint32Var(&f.gid, "gid", sandbox.DefaultGID, "group id PROG runs as inside the sandbox")
	fl.StringVar(&f.disk, "disk", limits.FormatSize(sandbox.DefaultDisk), "`SIZE` of the tmpfs behind /, /tmp and /dev/shm")
	for _, lf := range limits.Fields {
		fl.Var(limitFlag{f.lim, lf.Name}, lf.Flag, lf.Help+limitsOf)
	}
	fl.BoolVar(&f.strict, "strict", false, "refuse to run when a requested limit cannot be enforced on this host")
	fl.StringVar(&f.seccomp, "seccomp", profiles.DefaultSeccomp, "system-call policy: default, strict (default without sockets), none, or a FILE (jail TOML policy or Docker/OCI seccomp JSON)")
	fl.StringVar(&f.profileName, "profile", "", "a profile NAME (jail profile list) or FILE; flags override it")
	fl.BoolVar(&f.seccompLog, "seccomp-log", false, "have the kernel log every denied system call to the audit log (dmesg)")
}

func runMain(ctx context.Context, f *runFlags, fl *pflag.FlagSet, args []string) error {
	if fl.ArgsLenAtDash() > 0 {
		return fmt.Errorf("unexpected %q before --: put flags before -- and the program after it", args[:fl.ArgsLenAtDash()])
	}
	timeout, err := parseStopTimeout(f.stopTimeout)
	if err != nil {
		return err
	}
	if f.detach && (f.jsonOut || f.verbose) {
		return errors.New("--json and --verbose print a run's end, which a detached one reaches later: see jail inspect, or give --report FILE")
	}
	ctx, signals, stop := routeSignals(ctx, timeout)
	defer stop()
	f.signals = signals
	if f.profileName != "" {
		p, _, err := profiles.Find(f.profileName)
		if err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
		f.profile = p
		if (p.Compile != nil || p.Run != nil) && f.detach {
			return fmt.Errorf("-d: the profile %s compiles before it runs; run a detached sandbox of a plain PROG (or --image)", p.Name)
		}
		if p.Compile != nil || p.Run != nil {
			return runSteps(ctx, f, args)
		}
	}
	spec, err := f.spec(args, nil)
	if err != nil {
		return err
	}
	if f.printConfig {
		return printConfig(spec)
	}
	if f.detach {
		return runDetached(f, spec)
	}
	if f.typed("name") || f.typed("rm") || f.typed("publish") || f.typed("restart") {
		return fmt.Errorf("--name, --rm, --restart and -p are for a detached sandbox: add -d")
	}
	if err := f.checkToolchain(spec); err != nil {
		return err
	}
	res, err := runOnce(ctx, f, sandbox.NewRunner(), spec, sandbox.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	return f.finish(res, res)
}

// parseStopTimeout reads --stop-timeout: a duration, or 0 to kill the
// sandbox at the first stop signal.
func parseStopTimeout(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "0" {
		return 0, nil
	}
	d, err := limits.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("--stop-timeout: %w", err)
	}
	return d, nil
}

// checkToolchain refuses a profile whose programs are missing from the
// sandbox's root, naming the profile and the program.
func (f *runFlags) checkToolchain(s *sandbox.Spec) error {
	// An image's programs are its own: one it lacks fails with exit 127
	// and "not found inside the sandbox".
	if f.profile == nil || len(s.Layers) > 0 {
		return nil
	}
	return f.profile.Check(f.profile.RootLookPath(s.RootFS))
}

// runOnce runs one sandbox, with a pseudo-terminal under -t, and prints
// jail's own messages about it.
func runOnce(ctx context.Context, f *runFlags, r *sandbox.Runner, spec *sandbox.Spec, stdio sandbox.IO) (*sandbox.Result, error) {
	var pty *ptyRelay
	var ptyErr error
	if f.tty {
		// The init opens PROG's terminal in the sandbox's own devpts.
		stdio.Rows, stdio.Cols = terminalSize()
		stdio.Terminal = func(master *os.File) { pty, ptyErr = relayTerminal(master) }
	}
	if f.signals != nil {
		var done func()
		stdio.Signals, done = f.signals.running()
		defer done()
	}
	res, err := r.Run(ctx, spec, stdio)
	if pty != nil {
		// Give the terminal back before printing anything.
		pty.close()
	}
	if err != nil {
		return nil, flagErrors(err)
	}
	if ptyErr != nil {
		fmt.Fprintf(os.Stderr, "jail: %v\n", ptyErr)
	}
	res.SpellWarnings(flagName)
	printMessages(res)
	return res, nil
}

// printMessages prints jail's own messages about a run: its error and
// what of the isolation or the limits this host could not give.
func printMessages(res *sandbox.Result) {
	if res.Error != "" {
		fmt.Fprintf(os.Stderr, "jail: %s\n", res.Error)
	}
	if res.Interrupted {
		fmt.Fprintf(os.Stderr, "jail: %s\n", res.Reason)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "jail: warning: %s\n", w)
	}
}

// finish reports the final result (report, the JSON form of res) and
// turns res into jail's exit status.
func (f *runFlags) finish(report any, res *sandbox.Result) error {
	if err := f.emit(report, res); err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return exitError{res.ExitCode}
	}
	return nil
}

// spec builds the run's Spec from the profile (if any) and the flags on
// top of it, for step (nil: a plain run). Every flag value is parsed here
// and the Spec validated by the resolver, so a bad flag never starts
// anything; problems are spelled as the flags that cause them.
func (f *runFlags) spec(argv []string, step *profiles.Step) (*sandbox.Spec, error) {
	o, err := f.overrides(argv)
	if err != nil {
		return nil, err
	}
	o.Step = step
	s, err := profiles.Resolve(f.profile, o)
	return s, flagErrors(err)
}

// releaseImage lets the store remove the run's image again.
func (f *runFlags) releaseImage() {
	if f.release != nil {
		f.release()
	}
}

// typed reports whether the user gave flag name.
func (f *runFlags) typed(name string) bool { return f.fl == nil || f.fl.Changed(name) }

// ifTyped is v when the user typed flag name, else nil.
func ifTyped[T any](f *runFlags, name string, v T) *T {
	if !f.typed(name) {
		return nil
	}
	return &v
}

// overrides turns the flags the user typed into typed values; the ones
// not typed stay nil, for the profile's value to hold.
func (f *runFlags) overrides(argv []string) (profiles.Overrides, error) {
	o := profiles.Overrides{
		Argv: argv, TTY: f.tty, SeccompLog: f.seccompLog, EnvFiles: f.envFiles, Env: f.env,
	}
	o.RootFS = ifTyped(f, "rootfs", f.rootfs)
	o.Workdir = ifTyped(f, "workdir", f.workdir)
	o.Hostname = ifTyped(f, "hostname", f.hostname)
	o.Seccomp = ifTyped(f, "seccomp", f.seccomp)
	o.UID = ifTyped(f, "uid", f.uid)
	o.GID = ifTyped(f, "gid", f.gid)
	o.Strict = ifTyped(f, "strict", f.strict)
	o.Net = ifTyped(f, "net", sandbox.Net(f.net))
	if f.typed("disk") {
		d, err := limits.ParseSize(f.disk)
		if err != nil {
			return o, fmt.Errorf("--disk: %w", err)
		}
		o.Disk = &d
	}
	for _, v := range f.volumes {
		b, err := parseVolume(v)
		if err != nil {
			return o, err
		}
		o.Binds = append(o.Binds, b)
	}
	var err error
	if o.Image, err = f.heldImage(); err != nil {
		return o, err
	}
	if o.Limits, err = f.limits(); err != nil {
		return o, err
	}
	// A detached PROG's terminal is its monitor's, attached to later.
	if o.TTY && !f.detach && !f.monitored && !isTerminal(os.Stdin) {
		return o, fmt.Errorf("-t needs a terminal on stdin; drop -t when stdin is a file or a pipe")
	}
	return o, nil
}

// limits parses the limit flags the user typed; the error names the flag.
func (f *runFlags) limits() (limits.Spec, error) { return parseLimits(f.lim, "") }

// parseLimits parses limit flags as typed, by limits.Field name, whose
// flags are --PREFIX+flag; the error names the flag.
func parseLimits(typed map[string]string, prefix string) (limits.Spec, error) {
	var l limits.Spec
	for _, lf := range limits.Fields {
		if v := typed[lf.Name]; v != "" {
			if err := lf.Set(&l, v); err != nil {
				return l, fmt.Errorf("--%s%s: %w", prefix, lf.Flag, err)
			}
		}
	}
	return l, nil
}

// limitFlag is one limit's flag: its text, parsed by limits() so that the
// message is jail's own rather than pflag's.
type limitFlag struct {
	vals map[string]string
	name string
}

func (v limitFlag) String() string {
	if v.vals == nil {
		return ""
	}
	return v.vals[v.name]
}
func (v limitFlag) Set(s string) error { v.vals[v.name] = s; return nil }
func (v limitFlag) Type() string       { return "string" }

// parseVolume reads -v SRC:DST[:ro|rw].
func parseVolume(v string) (rootfs.UserBind, error) {
	parts := strings.Split(v, ":")
	b := rootfs.UserBind{}
	switch len(parts) {
	case 2:
	case 3:
		switch parts[2] {
		case "ro":
		case "rw":
			b.Writable = true
		default:
			return b, fmt.Errorf("-v %s: the mode %q is not ro or rw", v, parts[2])
		}
	default:
		return b, fmt.Errorf("-v %s: write SRC:DST or SRC:DST:ro or SRC:DST:rw (paths may not contain ':')", v)
	}
	if parts[0] == "" || parts[1] == "" {
		return b, fmt.Errorf("-v %s: both SRC and DST are needed", v)
	}
	b.Source, b.Target = parts[0], parts[1]
	return b, nil
}

// emit writes the result where the flags ask: the summary of res, the
// JSON of report.
func (f *runFlags) emit(report any, res *sandbox.Result) error {
	if f.verbose {
		fmt.Fprintln(os.Stderr, summary(res))
	}
	if !f.jsonOut && f.report == "" {
		return nil
	}
	b, err := json.Marshal(report)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if f.jsonOut {
		os.Stderr.Write(b)
	}
	if f.report != "" {
		if err := os.WriteFile(f.report, b, 0o644); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}

// summary is the one-line human form of a Result.
func summary(r *sandbox.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "jail: %s exit=%d", r.Verdict, r.ExitCode)
	if r.Signal != "" {
		fmt.Fprintf(&b, " signal=%s", r.Signal)
	}
	fmt.Fprintf(&b, " wall=%s cpu=%s user+%s sys peak=%s setup=%s",
		dur(r.WallTime), dur(r.CPUUser), dur(r.CPUSys), units.BytesSize(float64(r.PeakMemory)), dur(r.SetupTime))
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	return b.String()
}

func dur(s sandbox.Seconds) string {
	return time.Duration(s).Round(10 * time.Microsecond).String()
}

// printConfig shows what a run would get, after the profile and the flags.
func printConfig(s *sandbox.Spec) error {
	policy := "none"
	if s.Seccomp != nil {
		policy = s.Seccomp.Name
	}
	view := map[string]any{
		"argv": s.Argv, "env": s.Env, "workdir": s.Dir, "rootfs": s.RootFS, "image": s.Image, "binds": s.Binds,
		"hostname": s.Hostname, "net": s.Net, "uid": s.UID, "gid": s.GID, "disk": s.Disk,
		"tty": s.TTY, "strict": s.Strict, "seccomp": policy, "seccomp_log": s.SeccompLog,
		"limits": limitsView(s.Limits),
	}
	b, err := json.MarshalIndent(view, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, string(b))
	return err
}

// limitsView names every limit by its descriptor; a percentage carries
// its unit in the name because the value is a bare number, and durations
// are written as Go spells them.
func limitsView(l limits.Spec) map[string]any {
	out := map[string]any{}
	for _, f := range limits.Fields {
		key, v := f.Name, f.Value(l)
		if f.Kind == limits.Percent {
			key += "_percent"
		}
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		out[key] = v
	}
	return out
}
