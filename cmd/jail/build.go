package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"jail/build"
	"jail/sandbox"
)

func newBuildCommand() *cobra.Command {
	var tag, file, network string
	var args []string
	var noCache bool
	cmd := &cobra.Command{
		Use:   "build -t NAME[:TAG] [-f Dockerfile] [--build-arg K=V]... CONTEXT",
		Short: "Build an image from a Dockerfile, each RUN in a sandbox (no daemon, no root)",
		Long: `Build an image from a Dockerfile into the image store (jail image ls).

Each RUN runs in a jail sandbox over the image's layers so far, with no
network unless --network host; what it writes becomes the next layer. COPY
and ADD read the build CONTEXT, leaving out what its .dockerignore names.
A step whose parent and content are unchanged comes from the cache.`,
		Args: exactArgs(1, "give the build CONTEXT directory, as in: jail build -t app ."),
		RunE: func(cmd *cobra.Command, pos []string) error {
			if tag == "" {
				return fmt.Errorf("jail build: give the image a name with -t NAME[:TAG]")
			}
			buildArgs := map[string]string{}
			for _, kv := range args {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					// As docker build: K alone passes the caller's value.
					if v, ok = os.LookupEnv(k); !ok {
						continue
					}
				}
				if k == "" {
					return fmt.Errorf("--build-arg %q: write KEY=VALUE", kv)
				}
				buildArgs[k] = v
			}
			net := sandbox.Net(network)
			if net != sandbox.NetNone && net != sandbox.NetHost {
				return fmt.Errorf("--network %q: choose none (the default) or host", network)
			}
			s, err := openStore("")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			res, err := build.Build(ctx, build.Options{Store: s, Context: pos[0], Dockerfile: file, Tag: tag,
				BuildArgs: buildArgs, Network: net, NoCache: noCache, Out: os.Stdout})
			if err != nil {
				return err
			}
			fmt.Printf("built %s %s (%d steps: %d ran, %d from the cache)\n", res.Image.Name, res.Image.ID,
				res.Steps, res.Ran, res.Cached)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&tag, "tag", "t", "", "the image's `NAME[:TAG]`")
	fl.StringVarP(&file, "file", "f", "", "the `Dockerfile` (default CONTEXT/Dockerfile)")
	fl.StringArrayVar(&args, "build-arg", nil, "set the ARG `KEY=VALUE` (KEY alone: the caller's value)")
	fl.StringVar(&network, "network", string(sandbox.NetNone), "RUN's network: none or host")
	fl.BoolVar(&noCache, "no-cache", false, "run every step, as if the cache were empty")
	return cmd
}
