package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"jail/detached"
)

func newAttachCommand() *cobra.Command {
	var keys string
	var sigProxy bool
	cmd := &cobra.Command{
		Use:   "attach [--detach-keys KEYS] [--sig-proxy=false] SANDBOX",
		Short: "Attach to a detached sandbox's PROG: its terminal (run -d -t; ctrl-p ctrl-q detaches), or its output",
		Long: `jail attach relays this terminal to the terminal of a sandbox started with
jail run -d -t: what you type goes to PROG, what PROG writes comes here, and
the size follows yours. The detach keys (ctrl-p,ctrl-q unless --detach-keys
says otherwise) leave PROG running. A sandbox without a terminal sends its
stdout and stderr as they come, and the signals jail attach gets go to PROG
(unless --sig-proxy=false; then ^C detaches). When PROG ends, jail attach
exits with its status.`,
		Args: exactArgs(1, "give the SANDBOX to attach to"),
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			seq, err := parseDetachKeys(keys)
			if err != nil {
				return err
			}
			e, err := s.Find(args[0])
			if err != nil {
				return err
			}
			if err := startedFirst(args[0], e); err != nil {
				return err
			}
			if e.State.TTY && !isTerminal(os.Stdin) {
				return fmt.Errorf("sandbox %s runs on a terminal: jail attach to it needs a terminal on stdin", args[0])
			}
			a, err := detached.Attach(e.Dir)
			if err != nil {
				return fmt.Errorf("sandbox %s: %w", args[0], err)
			}
			var left bool
			if a.Master != nil {
				left, err = relayAttached(a, seq)
			} else {
				left, err = followAttached(e, a, sigProxy)
			}
			if err != nil || left {
				return err
			}
			// PROG ended: its status is ours, as docker attach's.
			if err := waitEnded(s, e, 10*time.Second); err != nil {
				return err
			}
			if e, err = s.Find(args[0]); err != nil {
				return err
			}
			if code := e.State.ExitCode; code != 0 {
				return exitError{code}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&keys, "detach-keys", "ctrl-p,ctrl-q", "the `KEYS` that detach, as docker writes them: ctrl-<letter>, or one character, comma-separated")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "without a terminal: pass the signals jail attach gets to PROG")
	return cmd
}

// followAttached copies the output of a sandbox without a terminal to
// stdout and stderr until PROG's ends, passing on the signals this
// process gets (sigProxy), or leaving at the first of them.
func followAttached(e *detached.Entry, a *detached.Attached, sigProxy bool) (left bool, err error) {
	defer a.Output.Close()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	ended := make(chan error, 1)
	go func() { ended <- detached.Demux(a.Output, os.Stdout, os.Stderr) }()
	for {
		select {
		case err := <-ended:
			return false, err
		case sig := <-sigs:
			if !sigProxy {
				return true, nil
			}
			if err := detached.Send(e.Dir, detached.Request{Op: "kill", Signal: unix.SignalName(sig.(syscall.Signal))}); err != nil {
				fmt.Fprintf(os.Stderr, "jail: %s: %v\n", sig, err)
			}
		}
	}
}

// parseDetachKeys reads docker's form of a detach sequence.
func parseDetachKeys(v string) ([]byte, error) {
	var seq []byte
	for _, k := range strings.Split(v, ",") {
		switch {
		case len(k) == 1:
			seq = append(seq, k[0])
		case len(k) == 6 && strings.HasPrefix(k, "ctrl-") && k[5] >= 'a' && k[5] <= 'z':
			seq = append(seq, k[5]-'a'+1)
		case k == "ctrl-@":
			seq = append(seq, 0)
		case k == "ctrl-[" || k == "ctrl-\\" || k == "ctrl-]" || k == "ctrl-^" || k == "ctrl-_":
			seq = append(seq, k[5]-'@')
		default:
			return nil, fmt.Errorf("--detach-keys %q: give keys such as ctrl-p,ctrl-q (ctrl-a to ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_, or one character), comma-separated", v)
		}
	}
	return seq, nil
}

// relayAttached relays this terminal, in raw mode, to an attached
// sandbox until PROG's terminal closes or the detach keys are typed.
func relayAttached(a *detached.Attached, seq []byte) (detachedByKeys bool, err error) {
	defer a.Master.Close()
	defer a.Output.Close()
	restore, err := rawTerminal(a.Master)
	if err != nil {
		return false, err
	}
	defer restore()
	ended, keys := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = io.Copy(os.Stdout, a.Output)
		close(ended)
	}()
	go func() {
		if forwardKeys(a.Master, os.Stdin, seq) {
			close(keys)
		}
	}()
	select {
	case <-ended:
		return false, nil
	case <-keys:
		fmt.Fprint(os.Stderr, "\r\njail: detached; PROG goes on (jail attach again, jail stop to end it)\r\n")
		return true, nil
	}
}

// forwardKeys copies in to master until seq is typed (true) or in ends.
// A key that begins seq is held back until the next one shows whether
// seq goes on; if not, both go through.
func forwardKeys(master io.Writer, in io.Reader, seq []byte) bool {
	buf := make([]byte, 1024)
	held := 0
	for {
		n, err := in.Read(buf)
		var out bytes.Buffer
		for _, c := range buf[:n] {
			if c == seq[held] {
				held++
				if held == len(seq) {
					_, _ = master.Write(out.Bytes())
					return true
				}
				continue
			}
			out.Write(seq[:held])
			held = 0
			if c == seq[0] {
				held = 1
				continue
			}
			out.WriteByte(c)
		}
		if out.Len() > 0 {
			if _, werr := master.Write(out.Bytes()); werr != nil {
				return false
			}
		}
		if err != nil {
			return false
		}
	}
}
