package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"jail/detached"
)

func newExecCommand() *cobra.Command {
	var (
		tty, interactive bool
		env              []string
		dir              string
	)
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] [-e NAME=VALUE]... [-w DIR] SANDBOX -- CMD [ARG...]",
		Short: "Run a command in a running detached sandbox, beside its PROG and under the same limits, policy and rules",
		Long: `jail exec runs CMD inside a running detached sandbox: in its namespaces,
its cgroup and its time namespace, with PROG's user, rlimits, seccomp policy
and Landlock rules. A call the policy kills kills CMD only. jail exec exits
with CMD's exit status; 126 when CMD could not start, 127 when it was not
found.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return errors.New("give the SANDBOX, then -- and the command to run in it")
			}
			return nil
		},
		RunE: withSandboxes(func(cmd *cobra.Command, s *detached.Store, args []string) error {
			if at := cmd.ArgsLenAtDash(); at >= 0 && at != 1 {
				return fmt.Errorf("give one SANDBOX before --, then the command")
			}
			if tty && !isTerminal(os.Stdin) {
				return fmt.Errorf("-t needs a terminal on stdin; drop -t when stdin is a file or a pipe")
			}
			e, err := s.Find(args[0])
			if err != nil {
				return err
			}
			if err := startedFirst(args[0], e); err != nil {
				return err
			}
			c := detached.Command{Argv: args[1:], Env: env, Dir: dir, TTY: tty}
			if tty {
				c.Rows, c.Cols = terminalSize()
			}
			code, err := execIn(e, c, interactive)
			if err != nil {
				return fmt.Errorf("sandbox %s: %w", args[0], err)
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give CMD a terminal of the sandbox's own, relayed to this one")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "give CMD this stdin (else it reads /dev/null)")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "add `NAME=VALUE` to PROG's environment for CMD (repeatable)")
	cmd.Flags().StringVarP(&dir, "workdir", "w", "", "CMD's working `DIR` inside the sandbox (default PROG's)")
	return cmd
}

// execIn runs c in the sandbox e and returns its exit status, as
// jail exec's own.
func execIn(e *detached.Entry, c detached.Command, interactive bool) (int, error) {
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if !interactive && !c.TTY {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
		defer null.Close()
		stdio[0] = null
	}
	x, err := detached.StartExec(e.Dir, c, stdio)
	var se *detached.StartError
	switch {
	case errors.As(err, &se) && se.NotFound:
		fmt.Fprintf(os.Stderr, "jail: %s\n", se.Msg)
		return 127, nil
	case errors.As(err, &se):
		fmt.Fprintf(os.Stderr, "jail: %s\n", se.Msg)
		return 126, nil
	case err != nil:
		return 0, err
	}
	if x.Terminal != nil {
		relay, err := relayTerminal(x.Terminal)
		if err != nil {
			x.Terminal.Close()
			return 0, err
		}
		// The relay ends when the command's terminal has no holder
		// left; the exit status comes after.
		defer relay.close()
	}
	return x.Wait()
}

// startedFirst refuses a sandbox that is not running, for what only a
// running one can do (exec, attach).
func startedFirst(ref string, e *detached.Entry) error {
	if e.Running() {
		return nil
	}
	return fmt.Errorf("sandbox %s is not running (%s): start it first (jail start %s)", ref, e.State.Status, ref)
}
