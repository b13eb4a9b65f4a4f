// Command jail runs a program in a rootless sandbox and reports what it did.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"jail/idmap"
	"jail/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// jail is rootless by design; a setuid install would hand every user
	// root's powers over its flags (bubblewrap's and firejail's CVEs).
	// Each pair is read in one call: an id-mapped helper starts before its
	// maps are written, and separate getuid and geteuid calls on either
	// side of that write saw two different ids.
	ruid, euid, _ := unix.Getresuid()
	rgid, egid, _ := unix.Getresgid()
	if euid != ruid || egid != rgid {
		fmt.Fprintln(os.Stderr, "jail: refusing to run setuid or setgid: remove the bit (chmod u-s,g-s) and run jail as yourself")
		os.Exit(sandbox.ExitSetupFailed)
	}
	// A child jail started to work on files only a user namespace's root
	// may change (the image store's) does that and exits.
	idmap.ServeIfHelper()
	code := execute(os.Args[1:])
	sandbox.DiscardEarly()
	os.Exit(code)
}

// exitError carries an exit status out of a cobra command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func execute(args []string) int {
	root := &cobra.Command{
		Use:   "jail",
		Short: "Run untrusted programs in a rootless sandbox",
		Long: `jail runs a program isolated from the host: in its own user, mount, pid, ipc,
uts, cgroup and network namespaces, on a private root file system, with no
capabilities, and reports exactly what happened.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	if len(args) > 0 && args[0] == "run" {
		// The command run most, on the path the cold start is measured
		// on, builds only itself: the whole tree, two dozen commands and
		// their flags, took 0.28 ms.
		root.AddCommand(newRunCommand())
	} else {
		root.AddCommand(newRunCommand(), newJudgeCommand(), newServeCommand(), newDoctorCommand(), newVersionCommand(), newProfileCommand(), newImageCommand(), newBuildCommand(),
			newPsCommand(), newInspectCommand(), newLogsCommand(), newStopCommand(), newKillCommand(), newRmCommand(), newCpCommand(), newStartCommand(), newRestartCommand(), newPortCommand(), newExecCommand(), newAttachCommand(), newKubeCommand(),
			newMonitorCommand(), newNetnsCommand())
	}
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		// Validation reports every problem at once, one per line.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "jail: %s\n", line)
		}
		return sandbox.ExitSetupFailed
	}
}
