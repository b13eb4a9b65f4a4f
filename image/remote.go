package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Remote is how jail talks to registries.
type Remote struct {
	// Insecure talks plain HTTP to a registry that is not on loopback;
	// loopback registries get plain HTTP anyway, as Docker allows, and
	// every other one TLS with a verified certificate.
	Insecure bool
	// Progress, when set, receives the bytes done of each transfer.
	Progress chan<- v1.Update
}

// reference parses a registry reference, as Docker spells them
// ("busybox" is Docker Hub's library/busybox:latest).
func (r Remote) reference(ref string) (name.Reference, error) {
	var opts []name.Option
	if r.Insecure || loopback(ref) {
		opts = append(opts, name.Insecure)
	}
	n, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("%q is not an image reference: %v", ref, err)
	}
	return n, nil
}

// loopback reports whether ref's registry is on this machine.
func loopback(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// options are go-containerregistry's; with write, they pass Progress on,
// which it reports (and closes) for writes only.
func (r Remote) options(ctx context.Context, write bool) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: hostArch()})}
	if write && r.Progress != nil {
		opts = append(opts, remote.WithProgress(r.Progress))
	}
	return opts
}

// transfer reports a pull's progress as go-containerregistry reports a
// push's: updates of the bytes done out of all the layers' blobs, and the
// channel closed at the end.
type transfer struct {
	ch          chan<- v1.Update
	total, done int64
}

// counting is r, counted, or r itself without a transfer.
func (p *transfer) counting(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, p: p}
}

type countingReader struct {
	r io.Reader
	p *transfer
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.done += int64(n)
	select {
	case c.p.ch <- v1.Update{Total: c.p.total, Complete: c.p.done}:
	default: // a slow terminal skips updates rather than slow the pull
	}
	return n, err
}

// Pull adds the image ref from its registry, named as ref is spelled
// (with ":latest" when it has no tag), or name when given. Credentials
// come from the Docker config file ($DOCKER_CONFIG, ~/.docker/config.json)
// when it has some for the registry.
func (s *Store) Pull(ctx context.Context, r Remote, ref, as string) (*Imported, error) {
	n, err := r.reference(ref)
	if err != nil {
		return nil, err
	}
	if r.Progress != nil {
		defer close(r.Progress)
	}
	img, err := remote.Image(n, r.options(ctx, false)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, registryError(err, n))
	}
	f := found{img: img, digest: ref}
	if r.Progress != nil {
		f.progress = &transfer{ch: r.Progress}
		if m, err := img.Manifest(); err == nil {
			for _, l := range m.Layers {
				f.progress.total += l.Size
			}
		}
	}
	switch {
	case as != "":
		f.names = []string{as}
	case !strings.Contains(ref, "@"):
		f.names = []string{ref}
	}
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ims, err := s.add(f)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return &ims[0], nil
}

// Push writes the stored image src to the registry reference ref, with
// the digests it has in the store.
func (s *Store) Push(ctx context.Context, r Remote, src, ref string) (v1.Hash, error) {
	n, err := r.reference(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	unlock, err := s.lock(false)
	if err != nil {
		return v1.Hash{}, err
	}
	defer unlock()
	rec, err := s.resolve(src)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := s.v1Image(rec, false)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(n, img, r.options(ctx, true)...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s to %s: %w", src, ref, registryError(err, n))
	}
	return img.Digest()
}

// hostArch is this machine's architecture as OCI platforms name it,
// which Go's names are.
func hostArch() string { return runtime.GOARCH }

// registryError says what to do about a registry's refusal.
func registryError(err error, n name.Reference) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	reg := n.Context().RegistryStr()
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s refused the credentials, or wants some and none were found: log in (docker login %s), "+
			"or put them in $DOCKER_CONFIG/config.json (%d %s)", reg, reg, te.StatusCode, http.StatusText(te.StatusCode))
	case http.StatusNotFound:
		return fmt.Errorf("%s has no %s (%v)", reg, n, err)
	}
	return err
}
