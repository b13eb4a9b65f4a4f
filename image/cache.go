package image

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The build cache maps a step's key (its parent and what it does) to
// what it made, so that a rebuild with nothing changed runs nothing. Its
// records keep their layers in the store until jail image prune
// --build-cache drops them.

// CacheEntry is what one build step made: a layer, or nothing (a step
// that only changed the config).
type CacheEntry struct {
	Layer *Layer `json:"layer,omitempty"`
	// Made is when the step first ran.
	Made time.Time `json:"made"`
}

func (s *Store) cachePath(key string) string { return filepath.Join(s.Root, "cache", key+".json") }

// CacheGet returns the entry for key, if the store has it and its layer.
func (s *Store) CacheGet(key string) (*CacheEntry, bool) {
	b, err := os.ReadFile(s.cachePath(key))
	if err != nil {
		return nil, false
	}
	var e CacheEntry
	if json.Unmarshal(b, &e) != nil {
		return nil, false
	}
	if e.Layer != nil {
		d, err := s.LayerRoot(e.Layer.DiffID)
		if err != nil {
			return nil, false
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(d), "layer.json")); err != nil {
			return nil, false
		}
	}
	return &e, true
}

// CachePut records what the step key made.
func (s *Store) CachePut(key string, e *CacheEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.cachePath(key), b)
}

// cachedLayers are the layers the cache holds, by DiffID hex, with their
// blobs' hex.
func (s *Store) cachedLayers() (map[string]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Root, "cache"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Root, "cache", e.Name()))
		if err != nil {
			continue
		}
		var c CacheEntry
		if json.Unmarshal(b, &c) != nil || c.Layer == nil {
			continue
		}
		d, err1 := hexOf(c.Layer.DiffID)
		bl, err2 := hexOf(c.Layer.Digest)
		if err1 == nil && err2 == nil {
			out[d] = bl
		}
	}
	return out, nil
}

// DropCache removes the build cache's records, for prune to take their
// layers.
func (s *Store) DropCache() error {
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	ents, err := os.ReadDir(filepath.Join(s.Root, "cache"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(s.Root, "cache", e.Name())); err != nil {
			return err
		}
	}
	return nil
}
