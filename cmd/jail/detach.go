package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"jail/detached"
	"jail/limits"
	"jail/sandbox"
)

// monitorArg0 is the hidden command a detached sandbox's monitor runs as:
// jail __monitor DIR -- RUN-ARGS.
const monitorArg0 = "__monitor"

// runArgs are the run's flags as typed, but -d, --name and --rm, then
// PROG: what the monitor parses again to build the same Spec.
func runArgs(fl *pflag.FlagSet, argv []string) []string {
	var out []string
	fl.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "detach", "name", "rm", "publish", "restart":
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return append(append(out, "--"), argv...)
}

// runDetached starts spec's sandbox under a monitor of its own and
// returns once PROG has started, printing the sandbox's id.
func runDetached(f *runFlags, spec *sandbox.Spec) error {
	store, err := detached.Open()
	if err != nil {
		return err
	}
	st := &detached.State{Name: f.name, Args: runArgs(f.fl, spec.Argv), Command: spec.Argv, Image: f.imageName, Remove: f.remove,
		Dir: mustGetwd(), TTY: spec.TTY}
	if st.Restart, err = detached.ParseRestart(f.restart); err != nil {
		return err
	}
	if st.Remove && st.Restart.Policy != "no" {
		return errors.New("--rm and --restart disagree: a sandbox removed when PROG ends cannot run it again; give one")
	}
	for _, v := range f.publish {
		p, err := detached.ParsePort(v)
		if err != nil {
			return err
		}
		st.Ports = append(st.Ports, p)
	}
	if err := store.Create(st); err != nil {
		return err
	}
	if err := spawnMonitor(store, st); err != nil {
		return err
	}
	if w := detached.LingerWarning(userName()); w != "" {
		fmt.Fprintf(os.Stderr, "jail: warning: %s\n", w)
	}
	fmt.Println(st.ID)
	return nil
}

// userName is the caller's login name, else its uid.
func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// spawnMonitor starts the monitor of the sandbox st, in a session of its
// own (no terminal, no signal of the caller's process group reaches it),
// and returns once PROG has started, or with why it did not.
func spawnMonitor(store *detached.Store, st *detached.State) error {
	dir := store.Dir(st.ID)
	logf, err := os.OpenFile(filepath.Join(dir, "monitor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{"jail", monitorArg0, dir}, &os.ProcAttr{
		Dir:   st.Dir,
		Env:   os.Environ(),
		Files: []*os.File{null, logf, logf, readyW},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	readyW.Close()
	if err != nil {
		return fmt.Errorf("starting the sandbox's monitor: %w", err)
	}
	p.Release()
	line, _ := bufio.NewReader(readyR).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "started "):
		return nil
	case strings.HasPrefix(line, "error: "):
		return fmt.Errorf("%s: %s", st.Name, strings.TrimPrefix(line, "error: "))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "monitor.log"))
	return fmt.Errorf("%s: its monitor ended before PROG started: %s", st.Name, strings.TrimSpace(string(b)))
}

func mustGetwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "/"
	}
	return d
}

// newMonitorCommand is the monitor of one detached sandbox: it parses the
// run's flags again, as jail run does, and runs the sandbox to its end.
func newMonitorCommand() *cobra.Command {
	return &cobra.Command{
		Use:    monitorArg0 + " DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ready := os.NewFile(3, "ready")
			dir := args[0]
			b, err := os.ReadFile(filepath.Join(dir, "state.json"))
			if err != nil {
				return err
			}
			var st detached.State
			if err := json.Unmarshal(b, &st); err != nil {
				return err
			}
			m := &detached.Monitor{Dir: dir, State: &st}
			f := &runFlags{lim: map[string]string{}, monitored: true}
			fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
			fl.SetInterspersed(false)
			f.defineRunFlags(fl)
			if err := fl.Parse(st.Args); err != nil {
				fmt.Fprintf(ready, "error: %v\n", err)
				return err
			}
			f.fl = fl
			spec, err := f.spec(fl.Args(), nil)
			if err == nil && !spec.HostRoot() {
				// What PROG writes outlives a stop, as a container's layer.
				err = keepWrites(spec, &st)
			}
			if err != nil {
				fmt.Fprintf(ready, "error: %v\n", err)
				return err
			}
			defer f.releaseImage()
			if f.image != nil && f.image.StopSignal != "" {
				if sig, err := sandbox.ParseSignal(f.image.StopSignal); err == nil {
					m.StopSignal = sig
				}
			}
			runner := sandbox.NewRunner()
			m.Run = func(ctx context.Context, stdio sandbox.IO) (*sandbox.Result, error) {
				return runner.Run(ctx, spec, stdio)
			}
			return m.Serve(ready)
		},
	}
}

// keepWrites gives spec's overlay root the sandbox's own writable layer,
// made on first use.
func keepWrites(spec *sandbox.Spec, st *detached.State) error {
	if st.Upper == "" {
		d, err := detached.UpperDir(st.ID)
		if err != nil {
			return err
		}
		st.Upper = d
	}
	for _, d := range []string{"upper", "work"} {
		if err := os.MkdirAll(filepath.Join(st.Upper, d), 0o700); err != nil {
			return fmt.Errorf("its writable layer: %w", err)
		}
	}
	spec.Upper, st.UpperIDs = st.Upper, spec.IDs
	return spec.Validate()
}

// withSandboxes opens the user's detached sandboxes for a command.
func withSandboxes(run func(cmd *cobra.Command, s *detached.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := detached.Open()
		if err != nil {
			return err
		}
		return run(cmd, s, args)
	}
}

func newPsCommand() *cobra.Command {
	var all bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [-a]",
		Short: "List detached sandboxes (jail run -d): running ones, or all with -a",
		Args:  exactArgs(0, "jail ps takes no arguments"),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, _ []string) error {
			tmpl, err := parseFormat(format)
			if err != nil {
				return err
			}
			list, bad := s.List()
			for _, err := range bad {
				fmt.Fprintf(os.Stderr, "jail: %v\n", err)
			}
			var shown []*detached.Entry
			for _, e := range list {
				if all || e.Running() {
					shown = append(shown, e)
				}
			}
			switch {
			case format == "json":
				for _, e := range shown {
					b, _ := json.Marshal(psRow(e))
					fmt.Println(string(b))
				}
				return nil
			case tmpl != nil:
				for _, e := range shown {
					if err := tmpl.Execute(os.Stdout, psRow(e)); err != nil {
						return err
					}
					fmt.Println()
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tCOMMAND\tCREATED\tSTATUS")
			for _, e := range shown {
				r := psRow(e)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID[:12], r.Name, quoteCommand(r.Command, 30), r.CreatedSince, r.Status)
			}
			return w.Flush()
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show every sandbox, the ended ones too")
	cmd.Flags().StringVar(&format, "format", "", "print each as `json` (a line each) or a Go template over its fields (ID, Name, Command, Status, CreatedAt, ...)")
	return cmd
}

// row is a sandbox as jail ps shows it.
type row struct {
	ID, Name, Command, Image, State, Status string
	CreatedAt                               time.Time
	CreatedSince                            string
	Pid, ExitCode                           int
}

func psRow(e *detached.Entry) row {
	st := e.State
	r := row{ID: st.ID, Name: st.Name, Command: strings.Join(st.Command, " "), Image: st.Image, State: st.Status,
		CreatedAt: st.Created, CreatedSince: units.HumanDuration(time.Since(st.Created)) + " ago", Pid: st.Pid, ExitCode: st.ExitCode}
	switch st.Status {
	case detached.Running:
		r.Status = "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case detached.Created:
		r.Status = "Created"
	case detached.Restarting:
		r.Status = fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	default:
		r.Status = fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	}
	return r
}

// quoteCommand is a command line for a table cell, as docker ps shows
// it: quoted, its newlines and other controls escaped, cut at n runes.
func quoteCommand(s string, n int) string {
	q := []rune(strconv.Quote(s))
	q = q[1 : len(q)-1]
	if len(q) > n {
		q = append(q[:n-1], '…')
	}
	return `"` + string(q) + `"`
}

// parseFormat is --format's template, nil for none or "json".
func parseFormat(format string) (*template.Template, error) {
	if format == "" || format == "json" {
		return nil, nil
	}
	t, err := template.New("format").Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return t, nil
}

// inspected is jail inspect's view of a sandbox, shaped as docker
// inspect's.
type inspected struct {
	ID      string `json:"Id"`
	Name    string
	Created time.Time
	Path    string
	Args    []string
	Image   string
	State   struct {
		Status     string
		Running    bool
		Pid        int
		ExitCode   int
		Error      string
		OOMKilled  bool
		StartedAt  time.Time
		FinishedAt time.Time
	}
	Config struct {
		Cmd   []string
		Image string
		Tty   bool
		// JailArgs are jail run's arguments, from which the sandbox is
		// built: its limits, binds and isolation.
		JailArgs []string
	}
	// Result is jail run's JSON result of the run, once it ended: the
	// limits and isolation in force, the verdict.
	Result          json.RawMessage `json:",omitempty"`
	NetworkSettings struct {
		Ports map[string]any
	}
	LogPath      string
	RestartCount int
}

// portBinding is one host side of a port, as docker inspect shows it.
type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

func asBindings(v any) []portBinding {
	b, _ := v.([]portBinding)
	return b
}

func inspectOf(e *detached.Entry) inspected {
	st := e.State
	var v inspected
	v.ID, v.Name, v.Created, v.Image = st.ID, st.Name, st.Created, st.Image
	if len(st.Command) > 0 {
		v.Path, v.Args = st.Command[0], st.Command[1:]
	}
	v.State.Status, v.State.Running, v.State.Pid = st.Status, st.Status == detached.Running, st.Pid
	v.State.ExitCode, v.State.Error, v.State.OOMKilled = st.ExitCode, st.Error, st.OOMKilled
	v.State.StartedAt, v.State.FinishedAt = st.StartedAt, st.FinishedAt
	v.Config.Cmd, v.Config.Image, v.Config.JailArgs, v.Config.Tty = st.Command, st.Image, st.Args, st.TTY
	v.Result = st.Result
	v.NetworkSettings.Ports = map[string]any{}
	for _, p := range st.Ports {
		k := fmt.Sprintf("%d/%s", p.Port, p.Proto)
		v.NetworkSettings.Ports[k] = append(asBindings(v.NetworkSettings.Ports[k]), portBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	v.LogPath, v.RestartCount = filepath.Join(e.Dir, "log"), st.RestartCount
	return v
}

func newInspectCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect SANDBOX...",
		Short: "Print detached sandboxes as JSON, shaped as docker inspect's (.State.Pid, .State.Status, .State.ExitCode...)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			tmpl, err := parseFormat(format)
			if err != nil {
				return err
			}
			var out []inspected
			for _, ref := range args {
				e, err := s.Find(ref)
				if err != nil {
					return err
				}
				out = append(out, inspectOf(e))
			}
			if tmpl != nil {
				for _, v := range out {
					if err := tmpl.Execute(os.Stdout, v); err != nil {
						return fmt.Errorf("--format: %w", err)
					}
					fmt.Println()
				}
				return nil
			}
			b, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Println(string(b))
			return nil
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "a Go `TEMPLATE` over each, as docker's: {{.State.Pid}}, {{json .State}}")
	return cmd
}

func newLogsCommand() *cobra.Command {
	var follow, timestamps bool
	var tail, since string
	cmd := &cobra.Command{
		Use:   "logs SANDBOX",
		Short: "Print what a detached sandbox's PROG wrote, stdout to stdout and stderr to stderr",
		Args:  exactArgs(1, "give one SANDBOX: its name or id (jail ps -a)"),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			e, err := s.Find(args[0])
			if err != nil {
				return err
			}
			n := -1
			if tail != "all" {
				if _, err := fmt.Sscanf(tail, "%d", &n); err != nil || n < 0 {
					return fmt.Errorf("--tail %q: give a number of lines, or all", tail)
				}
			}
			var from time.Time
			if since != "" {
				if from, err = parseSince(since); err != nil {
					return err
				}
			}
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			each := func(l detached.Line) {
				w := io.Writer(out)
				if l.Stream == "stderr" {
					out.Flush()
					w = os.Stderr
				}
				if timestamps {
					fmt.Fprint(w, l.Time.Format(time.RFC3339Nano)+" ")
				}
				io.WriteString(w, l.Text)
				if follow {
					out.Flush()
				}
			}
			running := func() bool {
				cur, err := s.Find(e.State.ID)
				return err == nil && cur.Running()
			}
			return detached.Show(e.Dir, from, n, follow, each, running)
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "go on printing what PROG writes, until it ends")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "start each line with the time it was written")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "print only the last `N` lines")
	cmd.Flags().StringVar(&since, "since", "", "print only lines from `WHEN` on: a time (2006-01-02T15:04:05Z) or a duration ago (10m)")
	return cmd
}

// parseSince reads --since: an RFC 3339 time, or a duration before now.
func parseSince(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := limits.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a time such as 2026-12-01T10:00:00Z, or a duration ago such as 10m", v)
}

func newStopCommand() *cobra.Command {
	var timeout string
	cmd := &cobra.Command{
		Use:   "stop [-t SECONDS] SANDBOX...",
		Short: "Stop detached sandboxes: the stop signal (SIGTERM) to PROG, then SIGKILL to the whole sandbox after -t",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			d, err := parseStopTimeout(timeout)
			if err != nil {
				return err
			}
			return eachSandbox(s, args, func(e *detached.Entry) error { return stopOne(s, e, d) })
		}),
	}
	cmd.Flags().StringVarP(&timeout, "time", "t", "10", "`SECONDS` PROG may take to exit before the sandbox is killed")
	return cmd
}

func newKillCommand() *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [-s SIGNAL] SANDBOX...",
		Short: "Send a signal to detached sandboxes' PROG; SIGKILL (the default) ends the whole sandbox",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			parsed, err := sandbox.ParseSignal(sig)
			if err != nil {
				return fmt.Errorf("--signal: %w", err)
			}
			return eachSandbox(s, args, func(e *detached.Entry) error {
				if !e.Running() {
					return fmt.Errorf("it is not running (%s)", e.State.Status)
				}
				if err := detached.Send(e.Dir, detached.Request{Op: "kill", Signal: sig}); err != nil {
					return err
				}
				if parsed == syscall.SIGKILL {
					return waitEnded(s, e, 10*time.Second)
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "SIGKILL", "the `SIGNAL`, by name or number")
	return cmd
}

func newRmCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [-f] SANDBOX...",
		Short: "Remove detached sandboxes that have ended; -f kills running ones first",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			if force {
				// A sandbox whose state cannot be read is removed by id.
				var rest []string
				for _, ref := range args {
					if _, err := s.Find(ref); err != nil && s.RemoveUnreadable(ref) == nil {
						fmt.Println(ref)
						continue
					}
					rest = append(rest, ref)
				}
				args = rest
			}
			return eachSandbox(s, args, func(e *detached.Entry) error {
				if e.Running() {
					if !force {
						return errors.New("it is running: stop it first (jail stop), or remove it with jail rm -f")
					}
					if err := detached.Send(e.Dir, detached.Request{Op: "kill", Signal: "SIGKILL"}); err != nil {
						return err
					}
					if err := waitEnded(s, e, 10*time.Second); err != nil {
						return err
					}
					ended, err := s.Find(e.State.ID)
					if err != nil {
						return err
					}
					e = ended
				}
				return s.Remove(e)
			})
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running sandbox, then remove it")
	return cmd
}

// eachSandbox does what to each sandbox args name, printing the name of
// each it did it to, as docker does; it goes on past a failure and
// fails at the end.
func eachSandbox(s *detached.Store, args []string, what func(*detached.Entry) error) error {
	var failed []error
	for _, ref := range args {
		e, err := s.Find(ref)
		if err == nil {
			if err = what(e); err != nil {
				err = fmt.Errorf("sandbox %s: %w", ref, err)
			}
		}
		if err != nil {
			failed = append(failed, err)
			continue
		}
		fmt.Println(ref)
	}
	return errors.Join(failed...)
}

// stopOne stops a running sandbox as jail stop does, and waits for its
// end; an ended one is left as it is, as docker stop leaves it.
func stopOne(s *detached.Store, e *detached.Entry, timeout time.Duration) error {
	if !e.Running() {
		return nil
	}
	if err := detached.Send(e.Dir, detached.Request{Op: "stop", Timeout: timeout.Seconds()}); err != nil {
		return err
	}
	return waitEnded(s, e, timeout+10*time.Second)
}

// waitEnded waits until the sandbox's monitor has ended it.
func waitEnded(s *detached.Store, e *detached.Entry, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		cur, err := s.Find(e.State.ID)
		if err != nil || !cur.Running() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("it was still running %v later; see %s", limit, filepath.Join(e.Dir, "monitor.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newCpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cp SANDBOX:SRC DST | SRC SANDBOX:DST",
		Short: "Copy files and directories out of a running detached sandbox, or into it",
		Long: `Copy a file or a directory between the host and a running detached sandbox:
into DST when it is a directory, else as DST. Every path inside the sandbox is
resolved within its root, never through a link out of it; links are copied as
links, and FIFOs, sockets and devices are skipped (and named).`,
		Args: exactArgs(2, "give SANDBOX:SRC DST, or SRC SANDBOX:DST"),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			ref, inside, out := "", "", true
			host := ""
			switch a, b := splitSandboxPath(args[0]), splitSandboxPath(args[1]); {
			case a != nil && b != nil:
				return errors.New("jail cp copies between the host and a sandbox: one side is SANDBOX:PATH, the other a host path")
			case a != nil:
				ref, inside, host = a[0], a[1], args[1]
			case b != nil:
				ref, inside, host, out = b[0], b[1], args[0], false
			default:
				return errors.New("name the sandbox's side as SANDBOX:PATH, as in jail cp web:/srv/out.txt .")
			}
			e, err := s.Find(ref)
			if err != nil {
				return err
			}
			if e.State.Status != detached.Running {
				return fmt.Errorf("sandbox %s is not running (%s): jail cp reaches a running one", ref, e.State.Status)
			}
			root, err := detached.OpenRoot(e.State.Pid)
			if err != nil {
				return fmt.Errorf("sandbox %s: %w", ref, err)
			}
			defer root.Close()
			var skipped []string
			if out {
				skipped, err = root.CopyOut(inside, host)
			} else {
				skipped, err = root.CopyIn(host, inside)
			}
			for _, p := range skipped {
				fmt.Fprintf(os.Stderr, "jail: cp: skipped %s: not a file, directory or link\n", p)
			}
			return err
		}),
	}
}

// splitSandboxPath is [SANDBOX, PATH] for "SANDBOX:PATH", nil for a host
// path (which starts with / or . or has no colon before its first /).
func splitSandboxPath(a string) []string {
	if strings.HasPrefix(a, "/") || strings.HasPrefix(a, ".") {
		return nil
	}
	ref, p, ok := strings.Cut(a, ":")
	if !ok || ref == "" || strings.Contains(ref, "/") {
		return nil
	}
	if p == "" {
		p = "/"
	}
	return []string{ref, p}
}

func newStartCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "start SANDBOX...",
		Short: "Start detached sandboxes that have ended, again, with what PROG wrote to an image's or a --rootfs root",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			return eachSandbox(s, args, func(e *detached.Entry) error { return startAgain(s, e) })
		}),
	}
}

// startAgain starts an ended sandbox under a new monitor; a running one
// is left as it is, as docker start leaves it.
func startAgain(s *detached.Store, e *detached.Entry) error {
	if e.Running() {
		return nil
	}
	st := e.State
	return spawnMonitor(s, &st)
}

func newRestartCommand() *cobra.Command {
	var timeout string
	cmd := &cobra.Command{
		Use:   "restart [-t SECONDS] SANDBOX...",
		Short: "Stop detached sandboxes (as jail stop) and start them again",
		Args:  cobra.MinimumNArgs(1),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			d, err := parseStopTimeout(timeout)
			if err != nil {
				return err
			}
			return eachSandbox(s, args, func(e *detached.Entry) error {
				if err := stopOne(s, e, d); err != nil {
					return err
				}
				e, err := s.Find(e.State.ID)
				if err != nil {
					return err
				}
				return startAgain(s, e)
			})
		}),
	}
	cmd.Flags().StringVarP(&timeout, "time", "t", "10", "`SECONDS` PROG may take to exit before the sandbox is killed")
	return cmd
}

// newNetnsCommand is a detached sandbox's port helper, already in the
// sandbox's user and network namespaces when Go starts (enter.c).
func newNetnsCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "__netns",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return detached.ServePorts(os.NewFile(4, "ports"))
		},
	}
}

func newPortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "port SANDBOX",
		Short: "List a detached sandbox's port mappings (-p)",
		Args:  exactArgs(1, "give one SANDBOX: its name or id"),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			e, err := s.Find(args[0])
			if err != nil {
				return err
			}
			for _, p := range e.State.Ports {
				fmt.Println(p)
			}
			return nil
		}),
	}
}
