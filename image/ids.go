package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"jail/idmap"
)

// A store keeps its files' owners when its user has subordinate ids: it
// unpacks each layer as the root of a user namespace that maps them
// (idmap), so that a file of uid 42 in the image belongs to the 42nd id
// of the user's range on disk and to uid 42 in every sandbox of the
// image, which maps the same. Such files are that namespace's to change
// or remove, and the store does so through the same helper. A store
// without subordinate ids gives every file to its user, root inside
// ("squashed"), and says how many owners it squashed. store.json records
// which the store is, since its files stay as they were made.

// storeConfig is store.json.
type storeConfig struct {
	// IDs are the maps the layers were unpacked with; nil is squashed.
	IDs *idmap.IDs `json:"ids"`
	// Squashed says why a store gives every file to its user.
	Squashed string `json:"squashed,omitempty"`
}

func (s *Store) configPath() string { return filepath.Join(s.Root, "store.json") }

// loadIDs reads store.json, or decides and writes it for a store that
// has no layer yet. One made before store.json was is squashed.
func (s *Store) loadIDs() error {
	b, err := os.ReadFile(s.configPath())
	var c storeConfig
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("image store %s: store.json: %w", s.Root, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if ents, err := os.ReadDir(filepath.Join(s.Root, "layers")); err != nil {
			return err
		} else if len(ents) > 0 {
			c.Squashed = "the store was made before jail kept owners"
		} else if c.IDs, err = idmap.Subordinate(); err != nil {
			if !errors.Is(err, idmap.ErrNone) {
				return err
			}
			c.IDs, c.Squashed = nil, err.Error()
		}
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(s.configPath(), b); err != nil {
			return err
		}
	default:
		return err
	}
	if c.IDs != nil {
		now, err := idmap.Subordinate()
		if !c.IDs.Equal(now) {
			why := now.String()
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("image store %s holds files owned by the ids %s, but this user now has %s: restore those ranges in %s and %s, or remove the store as root (rm -rf %s)",
				s.Root, c.IDs, why, idmap.SubUIDFile, idmap.SubGIDFile, s.Root)
		}
	}
	s.IDs, s.Squashed = c.IDs, c.Squashed
	return nil
}

// Helper operations, run as the root of the store's namespace.
const (
	opUnpack = "image-unpack"
	opTar    = "image-tar"
)

func init() {
	idmap.Register(opUnpack, helpUnpack)
	idmap.Register(opTar, helpTar)
}

// unpacked is what the unpack helper returns.
type unpacked struct {
	Report *Report `json:"report,omitempty"`
	Budget int64   `json:"budget"`
}

// unpack unpacks the tar stream r into dir (see unpackLayer), keeping
// owners if the store does.
func (s *Store) unpack(r io.Reader, dir string, budget *int64) (*Report, error) {
	if s.IDs == nil {
		return unpackLayer(r, dir, budget, nil)
	}
	o := owners{UIDs: s.IDs.UID.Size(), GIDs: s.IDs.GID.Size()}
	arg, _ := json.Marshal(o)
	var res unpacked
	err := s.IDs.Run(opUnpack, []string{dir, strconv.FormatInt(*budget, 10), string(arg)}, r, nil, &res)
	*budget = res.Budget
	if err != nil && res.Budget < 0 {
		return nil, errBudget
	}
	return res.Report, err
}

func helpUnpack(args []string, stdin io.Reader, _ io.Writer) (any, error) {
	if len(args) != 3 {
		return nil, errors.New("usage: DIR BUDGET OWNERS")
	}
	budget, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return nil, err
	}
	var o owners
	if err := json.Unmarshal([]byte(args[2]), &o); err != nil {
		return nil, err
	}
	rep, err := unpackLayer(stdin, args[0], &budget, &o)
	return unpacked{Report: rep, Budget: budget}, err
}

// removeAll removes a tree of the store: as its namespace's root when
// its user may not.
func (s *Store) removeAll(dir string) error {
	err := removeAll(dir)
	if err == nil || s.IDs == nil {
		return err
	}
	return s.IDs.RemoveAll(dir)
}

// AddUpper adds the tree at dir, an overlay's upper layer that a RUN
// wrote, to the layer (see AddTree). A store that keeps owners reads it
// as its namespace's root, which may read what the RUN's users wrote,
// and the entries keep those users.
func (lw *LayerWriter) AddUpper(dir string) error {
	if lw.s.IDs == nil {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return err
		}
		defer root.Close()
		return lw.AddTree(root, ".", "", nil)
	}
	return lw.addFromHelper(lw.s.IDs, opTar, []string{dir}, true)
}

// addFromHelper adds the entries of the tar stream that the helper
// operation op writes, run with ids.
func (lw *LayerWriter) addFromHelper(ids *idmap.IDs, op string, args []string, keepOwners bool) error {
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		err := lw.copyTar(pr, keepOwners)
		pr.CloseWithError(err)
		copied <- err
	}()
	err := ids.Run(op, args, nil, pw, nil)
	pw.CloseWithError(err)
	if cerr := <-copied; err == nil {
		err = cerr
	}
	return err
}

// copyTar adds every entry of the tar stream r, with its owner or, unless
// keepOwners, the layer's.
func (lw *LayerWriter) copyTar(r io.Reader, keepOwners bool) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !keepOwners {
			h.Uid, h.Gid, h.Uname, h.Gname = lw.uid, lw.gid, "", ""
		}
		if err := lw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(lw.tw, tr); err != nil {
			return err
		}
	}
}

func helpTar(args []string, _ io.Reader, stdout io.Writer) (any, error) {
	if len(args) != 1 {
		return nil, errors.New("usage: DIR")
	}
	root, err := os.OpenRoot(args[0])
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tw := newTreeWriter(stdout, 0, 0, true)
	if err := tw.addTree(root, ".", "", nil); err != nil {
		return nil, err
	}
	return nil, tw.tw.Close()
}
