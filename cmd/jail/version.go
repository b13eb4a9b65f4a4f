package main

import (
	"fmt"
	"runtime"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/spf13/cobra"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print jail's version and the versions it was built with",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			major, minor, micro := libseccomp.GetLibraryVersion()
			fmt.Fprintf(cmd.OutOrStdout(), "jail %s (%s, libseccomp %d.%d.%d linked in)\n",
				version, runtime.Version(), major, minor, micro)
		},
	}
}
