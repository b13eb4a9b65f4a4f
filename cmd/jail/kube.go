package main

import (
	"os"

	"github.com/spf13/cobra"

	"jail/seccomp"
)

func newKubeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube",
		Short: "What jail serve needs on Kubernetes (deploy/kubernetes, docs/kubernetes.md)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "seccomp-profile",
		Short: "Print the seccomp profile of a pod that runs jail (a Localhost profile for the nodes)",
		Long: `Print the seccomp profile, in the OCI runtimes' JSON, of a container that
runs jail: it allows every system call jail's built-in policies decide, so
that each sandbox's own filter decides them as it does on a host (filters
stack, and the stronger verdict wins); any other call fails with ENOSYS.
deploy/kubernetes/profiles/seccomp.json is its output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := seccomp.OuterProfile()
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		},
	})
	return cmd
}
