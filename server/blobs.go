package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// blobStore keeps content-addressed inputs, so that test data a client
// sends with many tasks is uploaded once (PUT /v1/blobs/sha256:HEX) and
// named by its digest ({"ref": "sha256:HEX"}). A blob is a read-only file
// named by its hex digest; it lives ttl past its last use, and the blobs
// never add up to more than total bytes.
//
// No task reads the store: decode links (or copies) every blob a task
// names into the task's own directory, so evicting a blob later cannot
// change or break a queued or running task. A link keeps its bytes on
// disk until the task ends, outside the store's count.
type blobStore struct {
	dir string
	// owned says New made dir, so Shutdown removes it; a --blob-dir is
	// the operator's and stays.
	owned          bool
	maxBlob, total int64
	ttl            time.Duration
	now            func() time.Time

	mu    sync.Mutex
	blobs map[string]*blobEntry // by hex digest
	bytes int64                 // the blobs' sizes
	// reserved is promised to uploads whose length is known, so that two
	// at once cannot both fit in the room left for one.
	reserved int64
}

type blobEntry struct {
	size int64
	used time.Time
}

// uploadPrefix marks an upload still being received and checked.
const uploadPrefix = ".upload-"

// newBlobStore opens dir, or a fresh directory under os.TempDir() when
// dir is "". The blobs a --blob-dir already holds are kept, their time to
// live starting now; uploads a stopped server left half done are removed.
func newBlobStore(dir string, maxBlob, total int64, ttl time.Duration) (*blobStore, error) {
	b := &blobStore{dir: dir, maxBlob: maxBlob, total: total, ttl: ttl, now: time.Now, blobs: map[string]*blobEntry{}}
	if dir == "" {
		d, err := os.MkdirTemp("", "jail-blobs-")
		if err != nil {
			return nil, fmt.Errorf("creating the blob directory: %w (set TMPDIR or give --blob-dir)", err)
		}
		b.dir, b.owned = d, true
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--blob-dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--blob-dir: %w", err)
	}
	now := b.now()
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), uploadPrefix):
			os.Remove(filepath.Join(dir, e.Name()))
		case isDigestHex(e.Name()) && e.Type().IsRegular():
			st, err := e.Info()
			if err != nil {
				continue
			}
			b.blobs[e.Name()] = &blobEntry{size: st.Size(), used: now}
			b.bytes += st.Size()
		}
	}
	return b, nil
}

// parseDigest reads "sha256:HEX" and returns the hex.
func parseDigest(s string) (string, error) {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || !isDigestHex(h) {
		return "", fmt.Errorf("%q is not a digest: write sha256: and the 64 lower-case hex digits of the content's SHA-256 (sha256sum FILE)", s)
	}
	return h, nil
}

func isDigestHex(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (b *blobStore) path(h string) string { return filepath.Join(b.dir, h) }

// liveLocked returns a blob and refreshes its use, or nil; an expired
// blob is dropped here rather than served until the next sweep.
func (b *blobStore) liveLocked(h string, now time.Time) *blobEntry {
	e := b.blobs[h]
	if e == nil {
		return nil
	}
	if now.Sub(e.used) > b.ttl {
		b.dropLocked(h)
		return nil
	}
	e.used = now
	return e
}

func (b *blobStore) dropLocked(h string) {
	if e := b.blobs[h]; e != nil {
		os.Remove(b.path(h))
		b.bytes -= e.size
		delete(b.blobs, h)
	}
}

// fitLocked makes room for n more bytes, evicting expired blobs, least
// recently used first; blobs within their time to live are never
// evicted, so a full store is 507 until one expires.
func (b *blobStore) fitLocked(n int64, now time.Time) *apiError {
	if b.bytes+b.reserved+n <= b.total {
		return nil
	}
	var expired []string
	for h, e := range b.blobs {
		if now.Sub(e.used) > b.ttl {
			expired = append(expired, h)
		}
	}
	slices.SortFunc(expired, func(x, y string) int { return b.blobs[x].used.Compare(b.blobs[y].used) })
	for _, h := range expired {
		if b.bytes+b.reserved+n <= b.total {
			break
		}
		b.dropLocked(h)
	}
	if b.bytes+b.reserved+n <= b.total {
		return nil
	}
	e := errorf(http.StatusInsufficientStorage, codeStoreFull, "", fmt.Sprintf(
		"the blob store holds %d of its %d bytes and %d more do not fit: retry when a blob expires (%v after its last use), or reference the blobs already stored",
		b.bytes+b.reserved, b.total, n, b.ttl))
	var first time.Time
	for _, be := range b.blobs {
		if first.IsZero() || be.used.Before(first) {
			first = be.used
		}
	}
	if !first.IsZero() {
		e.retryAfter = max(first.Add(b.ttl).Sub(now), time.Second)
	}
	return e
}

// put stores the body as blob h, checking its digest; length is the
// Content-Length, -1 when unknown. created is false when h was stored
// already: the body is then not read at all.
func (b *blobStore) put(h string, body io.Reader, length int64) (created bool, size int64, aerr *apiError) {
	if length > b.maxBlob {
		return false, 0, b.tooLarge()
	}
	b.mu.Lock()
	if e := b.liveLocked(h, b.now()); e != nil {
		b.mu.Unlock()
		return false, e.size, nil
	}
	reserve := max(length, 0)
	if aerr := b.fitLocked(reserve, b.now()); aerr != nil {
		b.mu.Unlock()
		return false, 0, aerr
	}
	b.reserved += reserve
	b.mu.Unlock()
	// unreserve runs with b.mu held, once the upload is stored or failed.
	unreserve := func() { b.reserved -= reserve; reserve = 0 }
	defer func() {
		b.mu.Lock()
		unreserve()
		b.mu.Unlock()
	}()

	tmp, err := os.CreateTemp(b.dir, uploadPrefix+"*")
	if err != nil {
		return false, 0, errorf(http.StatusInternalServerError, codeInternal, "", "storing the blob: "+err.Error())
	}
	defer os.Remove(tmp.Name())
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), io.LimitReader(body, b.maxBlob+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case n > b.maxBlob:
		return false, 0, b.tooLarge()
	case err != nil:
		return false, 0, errorf(http.StatusBadRequest, codeInvalid, "", "reading the blob: "+err.Error())
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h {
		return false, 0, errorf(http.StatusUnprocessableEntity, codeDigestMismatch, "digest", fmt.Sprintf(
			"the body's digest is sha256:%s, not the URL's sha256:%s: PUT the content at the URL of its own digest", got, h))
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return false, 0, errorf(http.StatusInternalServerError, codeInternal, "", "storing the blob: "+err.Error())
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	unreserve()
	now := b.now()
	if e := b.liveLocked(h, now); e != nil {
		return false, e.size, nil // the same content, uploaded at once by another
	}
	if aerr := b.fitLocked(n, now); aerr != nil {
		return false, 0, aerr
	}
	if err := os.Rename(tmp.Name(), b.path(h)); err != nil {
		return false, 0, errorf(http.StatusInternalServerError, codeInternal, "", "storing the blob: "+err.Error())
	}
	b.blobs[h] = &blobEntry{size: n, used: now}
	b.bytes += n
	return true, n, nil
}

func (b *blobStore) tooLarge() *apiError {
	return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "", fmt.Sprintf("the blob is over this server's %d-byte maximum (--max-blob)", b.maxBlob))
}

// open returns blob h open for reading, which an eviction cannot take
// away from the reader, and refreshes its use.
func (b *blobStore) open(h string) (*os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.liveLocked(h, b.now()) == nil {
		return nil, errNoBlob
	}
	return os.Open(b.path(h))
}

var errNoBlob = errors.New("no such blob")

// has says whether ref names a stored blob, and refreshes it: a task
// naming a blob is a use.
func (b *blobStore) has(ref string) error {
	h, err := parseDigest(ref)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.liveLocked(h, b.now()) == nil {
		return b.missing(ref)
	}
	return nil
}

func (b *blobStore) missing(ref string) error {
	return fmt.Errorf("%s: no such blob: PUT it to /v1/blobs/%s first (a blob unused for %v is dropped)", ref, ref, b.ttl)
}

// place puts blob ref's content at dst: a hard link, made under the lock
// so that no eviction comes between finding the blob and linking it, or,
// across filesystems, a copy from a file opened under it.
func (b *blobStore) place(ref, dst string) error {
	h, err := parseDigest(ref)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.liveLocked(h, b.now()) == nil {
		b.mu.Unlock()
		return b.missing(ref)
	}
	if err := os.Link(b.path(h), dst); err == nil {
		b.mu.Unlock()
		return nil
	}
	in, err := os.Open(b.path(h))
	b.mu.Unlock()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// sweep drops the blobs unused for the time to live.
func (b *blobStore) sweep(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for h, e := range b.blobs {
		if now.Sub(e.used) > b.ttl {
			b.dropLocked(h)
		}
	}
}

func (b *blobStore) stats() (count int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.blobs), b.bytes
}

func (b *blobStore) close() {
	if b.owned {
		os.RemoveAll(b.dir)
	}
}

// digestParam reads the {digest} of a blob's URL.
func digestParam(r *http.Request) (string, *apiError) {
	h, err := parseDigest(r.PathValue("digest"))
	if err != nil {
		return "", errorf(http.StatusBadRequest, codeInvalid, "digest", err.Error())
	}
	return h, nil
}

// putBlob is PUT /v1/blobs/sha256:HEX: 201 when stored, 200 when it was
// already, with the digest and the size.
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	h, aerr := digestParam(r)
	if aerr != nil {
		s.reject(w, aerr)
		return
	}
	created, size, aerr := s.blobs.put(h, r.Body, r.ContentLength)
	if aerr != nil {
		s.reject(w, aerr)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"digest": "sha256:" + h, "size": size})
}

// getBlob is GET and HEAD /v1/blobs/sha256:HEX: the bytes, or for HEAD
// only their length.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	h, aerr := digestParam(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	f, err := s.blobs.open(h)
	if err != nil {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "digest", s.blobs.missing("sha256:"+h).Error()))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"sha256:`+h+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
}
