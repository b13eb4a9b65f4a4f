package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"jail/image"
	"jail/limits"
	"jail/profiles"
)

func newImageCommand() *cobra.Command {
	var storeDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images sandboxes run in (import, ls, inspect, rm, tag, prune)",
		Long: `Images are kept in a store the user owns: $JAIL_STORE, else
$XDG_DATA_HOME/jail, else ~/.local/share/jail. Each layer is unpacked once
and shared by every image that has it; jail run --image stacks an image's
layers as the read-only lower layers of the sandbox's overlay root.`,
	}
	cmd.PersistentFlags().StringVar(&storeDir, "store", "", "the image store `DIR` (default $JAIL_STORE, else $XDG_DATA_HOME/jail)")
	open := func() (*image.Store, error) { return openStore(storeDir) }
	cmd.AddCommand(newImageImportCommand(open), newImageListCommand(open), newImageInspectCommand(open),
		newImageRemoveCommand(open), newImageTagCommand(open), newImagePruneCommand(open), newImageSaveCommand(open), newImageDiskUsageCommand(open),
		newImagePullCommand(open), newImagePushCommand(open))
	return cmd
}

// openStore opens the store at dir, or the user's default one.
func openStore(dir string) (*image.Store, error) {
	if dir == "" {
		var err error
		if dir, err = image.DefaultRoot(); err != nil {
			return nil, err
		}
	}
	return image.Open(dir)
}

func newImageImportCommand(open func() (*image.Store, error)) *cobra.Command {
	var name, maxUnpacked string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Add the images of a docker-archive (docker save), an OCI layout directory or an OCI archive",
		Args:  exactArgs(1, "give one FILE: a docker save tarball, an OCI layout directory or an OCI archive"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			if err := setMaxUnpacked(s, maxUnpacked); err != nil {
				return err
			}
			ims, err := s.Import(args[0], name)
			if err != nil {
				return err
			}
			for _, im := range ims {
				label := im.Name
				if label == "" {
					label = "(no name; tag it with jail image tag " + short(im.ID) + " NAME)"
				}
				fmt.Printf("imported %s %s\n", label, im.ID)
				for layer, r := range im.Reports {
					for _, w := range reportLines(s, r) {
						fmt.Fprintf(os.Stderr, "jail: layer %s: %s\n", short(layer), w)
					}
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the `NAME[:TAG]` of the image (when the file holds one)")
	cmd.Flags().StringVar(&maxUnpacked, "max-unpacked", "", "refuse an image whose layers unpack to more than `SIZE` (default 16G)")
	return cmd
}

// reportLines says what unpacking a layer of s changed or left out.
func reportLines(s *image.Store, r *image.Report) []string {
	var out []string
	if r.Squashed > 0 {
		out = append(out, fmt.Sprintf("%d files' owners were given to you (root inside), as this store keeps no owners: %s", r.Squashed, s.Squashed))
	}
	if len(r.Devices) > 0 {
		out = append(out, fmt.Sprintf("left out device nodes, which sandboxes cannot have: %s", strings.Join(r.Devices, ", ")))
	}
	if len(r.SetID) > 0 {
		out = append(out, fmt.Sprintf("dropped the setuid/setgid bits, which sandboxes ignore: %s", strings.Join(r.SetID, ", ")))
	}
	return out
}

func short(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func newImageListCommand(open func() (*image.Store, error)) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images in the store",
		Args:    exactArgs(0, "jail image ls takes no arguments"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			list, err := s.List()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if list == nil {
					list = []image.Entry{}
				}
				return json.NewEncoder(os.Stdout).Encode(list)
			case "", "table":
			default:
				return fmt.Errorf("--format %q: choose table or json", format)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tLAYERS\tSIZE\tADDED")
			for _, e := range list {
				names := e.Names
				if len(names) == 0 {
					names = []string{"<none>"}
				}
				for _, n := range names {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s ago\n", n, short(e.ID), len(e.Layers),
						units.HumanSize(float64(e.Size)), units.HumanDuration(time.Since(e.Added)))
				}
			}
			return w.Flush()
		}),
	}
	cmd.Flags().StringVar(&format, "format", "", "table (default) or json")
	return cmd
}

func newImageInspectCommand(open func() (*image.Store, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME...",
		Short: "Print images as JSON: their names, config, layers and where they are unpacked",
		Args:  minArgs(1, "give the NAME[:TAG] or ID of an image"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			var out []any
			for _, ref := range args {
				h, err := s.Hold(ref)
				if err != nil {
					return err
				}
				layers := make([]map[string]any, len(h.Image.Layers))
				for i, l := range h.Image.Layers {
					layers[i] = map[string]any{"digest": l.Digest, "diff_id": l.DiffID, "media_type": l.MediaType,
						"size": l.Size, "dir": h.Layers[i]}
				}
				out = append(out, map[string]any{"id": h.ID, "manifest": h.Manifest, "manifest_media_type": h.ManifestType,
					"added": h.Added, "config": h.Config, "layers": layers})
				h.Release()
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Println(string(b))
			return err
		}),
	}
}

func newImageRemoveCommand(open func() (*image.Store, error)) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"rmi"},
		Short:   "Remove images, and the layers no other image holds",
		Args:    minArgs(1, "give the NAME[:TAG] or ID of an image"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			for _, ref := range args {
				done, err := s.Remove(ref, force)
				for _, d := range done {
					fmt.Println(d)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove an image by ID with all its names; untag one a sandbox is using")
	return cmd
}

func newImageTagCommand(open func() (*image.Store, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another name",
		Args:  exactArgs(2, "give the image and its new NAME[:TAG]"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			return s.Tag(args[0], args[1])
		}),
	}
}

func newImagePruneCommand(open func() (*image.Store, error)) *cobra.Command {
	var buildCache bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove images without a name, and layers and blobs no image (or build cache record) holds",
		Args:  exactArgs(0, "jail image prune takes no arguments"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			if buildCache {
				if err := s.DropCache(); err != nil {
					return err
				}
			}
			done, err := s.Prune()
			for _, d := range done {
				fmt.Println(d)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&buildCache, "build-cache", false, "drop jail build's cache first, and the layers only it holds")
	return cmd
}

func newImageSaveCommand(open func() (*image.Store, error)) *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "save [-o FILE] [--format docker-archive|oci-archive] NAME...",
		Short: "Write images as a docker-archive (docker load) or an OCI archive, with the digests they came with",
		Args:  minArgs(1, "give the NAME[:TAG] or ID of an image"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			if out == "" {
				if isTerminal(os.Stdout) {
					return fmt.Errorf("jail image save: give -o FILE, or redirect the output: an archive is not for a terminal")
				}
				return s.Save(os.Stdout, format, args...)
			}
			// Written beside FILE and renamed, so a failed save leaves no
			// partial archive under FILE's name.
			tmp, err := os.CreateTemp(filepath.Dir(out), ".jail-save-*")
			if err != nil {
				return fmt.Errorf("-o %s: %w", out, err)
			}
			defer os.Remove(tmp.Name())
			err = s.Save(tmp, format, args...)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp.Name(), out)
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to `FILE` instead of standard output")
	cmd.Flags().StringVar(&format, "format", image.FormatDocker, "docker-archive or oci-archive")
	return cmd
}

func newImageDiskUsageCommand(open func() (*image.Store, error)) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show what the store holds, and what its images share",
		Args:  exactArgs(0, "jail image du takes no arguments"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			u, err := s.Usage()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(u)
			case "", "table":
			default:
				return fmt.Errorf("--format %q: choose table or json", format)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tLAYERS\tSHARED\tSIZE\tUNIQUE")
			for _, i := range u.Images {
				n := strings.Join(i.Names, ", ")
				if n == "" {
					n = "<none>"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", n, short(i.ID), i.Layers, i.Shared,
					units.HumanSize(float64(i.Bytes)), units.HumanSize(float64(i.Unique)))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Printf("\n%d images, %d layers (%d shared): %s unpacked, %s of blobs; sharing saves %s\n",
				len(u.Images), u.Layers, u.SharedLayers, units.HumanSize(float64(u.LayerBytes)),
				units.HumanSize(float64(u.BlobBytes)), units.HumanSize(float64(u.Saved)))
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "", "table (default) or json")
	return cmd
}

func newImagePullCommand(open func() (*image.Store, error)) *cobra.Command {
	var as, maxUnpacked string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Add an image from a registry (credentials from the Docker config file)",
		Args:  exactArgs(1, "give one image reference, as in: jail image pull registry.example/app:1"),
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			if err := setMaxUnpacked(s, maxUnpacked); err != nil {
				return err
			}
			r, done := remoteWithProgress(insecure, "pulling "+args[0])
			im, err := s.Pull(cmd.Context(), r, args[0], as)
			done()
			if err != nil {
				return err
			}
			fmt.Printf("pulled %s %s\n", im.Name, im.ID)
			for layer, rep := range im.Reports {
				for _, w := range reportLines(s, rep) {
					fmt.Fprintf(os.Stderr, "jail: layer %s: %s\n", short(layer), w)
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&as, "name", "", "store the image as `NAME[:TAG]` instead of REF")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP to a registry that is not on loopback")
	cmd.Flags().StringVar(&maxUnpacked, "max-unpacked", "", "refuse an image whose layers unpack to more than `SIZE` (default 16G)")
	return cmd
}

func newImagePushCommand(open func() (*image.Store, error)) *cobra.Command {
	var insecure bool
	cmd := &cobra.Command{
		Use:   "push NAME [REF]",
		Short: "Write a stored image to a registry, as REF (default NAME)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("%s: give the stored image and, if it differs, the registry reference", cmd.CommandPath())
			}
			return nil
		},
		RunE: withStore(open, func(cmd *cobra.Command, s *image.Store, args []string) error {
			ref := args[len(args)-1]
			r, done := remoteWithProgress(insecure, "pushing "+ref)
			d, err := s.Push(cmd.Context(), r, args[0], ref)
			done()
			if err != nil {
				return err
			}
			fmt.Printf("pushed %s %s\n", ref, d)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP to a registry that is not on loopback")
	return cmd
}

// remoteWithProgress is a registry client that draws a pull's or push's
// progress on stderr when it is a terminal; done ends the line.
func remoteWithProgress(insecure bool, what string) (image.Remote, func()) {
	r := image.Remote{Insecure: insecure}
	if !isTerminal(os.Stderr) {
		return r, func() {}
	}
	ch := make(chan v1.Update, 16)
	stop, finished := make(chan struct{}), make(chan struct{})
	r.Progress = ch
	go func() {
		defer close(finished)
		drew := false
		for {
			select {
			case u, ok := <-ch:
				if !ok {
					ch = nil // go-containerregistry closed it: the transfer is over
					continue
				}
				if u.Total > 0 {
					drew = true
					fmt.Fprintf(os.Stderr, "\r%s: %s / %s (%d%%)\x1b[K", what, units.HumanSize(float64(u.Complete)),
						units.HumanSize(float64(u.Total)), u.Complete*100/u.Total)
				}
			case <-stop:
				if drew {
					fmt.Fprintln(os.Stderr)
				}
				return
			}
		}
	}()
	return r, func() { close(stop); <-finished }
}

// setMaxUnpacked applies --max-unpacked, when given.
func setMaxUnpacked(s *image.Store, v string) error {
	if v == "" {
		return nil
	}
	n, err := limits.ParseSize(v)
	if err != nil {
		return fmt.Errorf("--max-unpacked: %w", err)
	}
	s.MaxUnpacked = n
	return nil
}

// withStore is a store command's RunE: run, on the store open opens.
func withStore(open func() (*image.Store, error), run func(cmd *cobra.Command, s *image.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := open()
		if err != nil {
			return err
		}
		return run(cmd, s, args)
	}
}

func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s: %s", cmd.CommandPath(), hint)
		}
		return nil
	}
}

func minArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("%s: %s", cmd.CommandPath(), hint)
		}
		return nil
	}
}

// heldImage is the image a run's flags (or its profile) name, held until
// the command ends so its layers stay while the sandbox stacks them.
func (f *runFlags) heldImage() (*profiles.Image, error) {
	if !f.typed("image") && f.profile != nil {
		f.imageName = f.profile.Root.Image
	}
	if f.imageName == "" {
		return nil, nil
	}
	if f.image != nil {
		return f.image, nil
	}
	s, err := openStore("")
	if err != nil {
		return nil, fmt.Errorf("--image %s: %w", f.imageName, err)
	}
	// With both ids given, the image's User is not needed.
	img, release, err := holdImage(s, f.imageName, !f.typed("uid") || !f.typed("gid"))
	if err != nil {
		return nil, fmt.Errorf("--image: %w", err)
	}
	f.image, f.release = img, release
	return img, nil
}

// holdImage holds the image name of s for a run, resolving its User when
// the run needs it.
func holdImage(s *image.Store, name string, needUser bool) (*profiles.Image, func(), error) {
	h, err := s.Hold(name)
	if err != nil {
		return nil, nil, err
	}
	var u image.User
	if needUser {
		if u, err = h.User(); err != nil {
			h.Release()
			return nil, nil, err
		}
	}
	return &profiles.Image{Name: h.Name, Layers: h.Layers, Env: h.Config.Env, WorkingDir: h.Config.WorkingDir,
		Entrypoint: h.Config.Entrypoint, Cmd: h.Config.Cmd, UID: u.UID, GID: u.GID, Home: u.Home, IDs: s.IDs,
		StopSignal: h.Config.StopSignal}, h.Release, nil
}
