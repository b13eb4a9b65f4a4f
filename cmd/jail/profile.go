package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"jail/profiles"
)

func newProfileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "List, show and check sandbox profiles",
		Long: `A profile bundles a sandbox configuration (root, mounts, environment,
network, limits, seccomp) and, for languages, compile and run steps.

--profile NAME looks for NAME.toml in $XDG_CONFIG_HOME/jail/profiles
(~/.config/jail/profiles), then /etc/jail/profiles, then the built-ins;
a value containing '/' or ending in .toml is a file.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the profiles --profile can name, and where each comes from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return profileList(cmd.OutOrStdout())
		},
	}, &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a profile's effective configuration as TOML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, src, err := profiles.Find(args[0])
			if err != nil {
				return err
			}
			printEffective(cmd.OutOrStdout(), p, src)
			return nil
		},
	}, &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a profile file and print its effective configuration",
		Long: `Validate a profile file. Prints the effective configuration and exits 0,
or prints every problem as FILE:LINE: KEY: what to fix, and exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := profiles.LoadFile(args[0])
			if err != nil {
				// One problem per line, and status 1 rather than 125: the
				// file is wrong, not the sandbox.
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			printEffective(cmd.OutOrStdout(), p, profiles.Source(args[0]))
			return nil
		},
	})
	return cmd
}

func profileList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tDESCRIPTION")
	for _, e := range profiles.List() {
		desc := e.Description
		if e.Err != nil {
			desc = "(invalid: " + firstLine(e.Err.Error()) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Source, desc)
	}
	return tw.Flush()
}

// printEffective prints the profile and, as TOML comments so the output
// still decodes, the required programs this host's root lacks.
func printEffective(w io.Writer, p *profiles.Profile, src profiles.Source) {
	fmt.Fprintf(w, "# from %s\n", src)
	io.WriteString(w, p.Effective())
	if missing := p.Missing(p.HostLookPath()); len(missing) > 0 {
		fmt.Fprintf(w, "\n# note: missing in the sandbox root on this host: %s\n", strings.Join(missing, ", "))
		for _, line := range strings.Split(p.Check(p.HostLookPath()).Error(), "\n") {
			fmt.Fprintf(w, "#   %s\n", line)
		}
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
