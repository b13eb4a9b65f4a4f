package main_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/idmap"
	"jail/internal/imagetest"
	"jail/internal/testutil"
)

// ownersImage has files of several owners: what `jail image save` must
// give back and a sandbox must show.
func ownersImage(t *testing.T) v1.Image {
	owned := imagetest.Owned
	return testImage(t, v1.Config{Env: []string{"PATH=/bin"}},
		busyboxLayer(t,
			tfile("etc/shadow-like", "s"),
			owned(tdir("home/bob"), 1000, 1000),
			owned(tarEntry{Name: "home/bob/note", Body: "bob only\n", Type: tar.TypeReg, Mode: 0o600}, 1000, 1000),
			owned(tfile("srv", "x"), 0, 42),
			owned(tfile("nobody", "n"), 65534, 65534),
		))
}

// storeIDs is the id map the store at dir keeps its owners in, nil when
// it squashes them.
func storeIDs(t *testing.T, dir string) *idmap.IDs {
	b, err := os.ReadFile(filepath.Join(dir, "store.json"))
	require.NoError(t, err)
	var c struct {
		IDs      *idmap.IDs `json:"ids"`
		Squashed string     `json:"squashed"`
	}
	require.NoError(t, json.Unmarshal(b, &c))
	return c.IDs
}

// mappedStore is an image store that keeps owners, which the test user
// gets from its ranges in /etc/subuid and /etc/subgid (useradd gives
// them).
func mappedStore(t *testing.T) (*imageEnv, *idmap.IDs) {
	e := newImageEnv(t)
	r := e.run(t, "image", "ls")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	ids := storeIDs(t, e.store)
	if ids == nil {
		testutil.Skip(t, "the test user has no subordinate ids (/etc/subuid, /etc/subgid) or no newuidmap: the store squashes owners")
	}
	return e, ids
}

// TestImageOwnersAreKept imports an image whose files belong to several
// users into a store that maps the test user's subordinate ids: inside,
// each file has its owner, on disk it belongs to the matching id of the
// range, the owners' permissions hold between PROG's users, and rm and
// prune leave nothing of those ids behind.
func TestImageOwnersAreKept(t *testing.T) {
	e, ids := mappedStore(t)
	e.importImage(t, ownersImage(t), "owners:1")

	r := e.run(t, "run", "--image", "owners:1", "--", "stat", "-c", "%u:%g %a %n", "/home/bob", "/home/bob/note", "/srv", "/nobody", "/bin/busybox")
	requireOK(t, r)
	assert.Equal(t, "1000:1000 755 /home/bob\n1000:1000 600 /home/bob/note\n0:42 644 /srv\n65534:65534 644 /nobody\n0:0 755 /bin/busybox\n", r.Stdout)

	r = e.run(t, "run", "--image", "owners:1", "--uid", "1000", "--gid", "1000", "--", "sh", "-c", "cat /home/bob/note; touch /home/bob/new; stat -c %u:%g /home/bob/new")
	requireOK(t, r)
	assert.Equal(t, "bob only\n1000:1000\n", r.Stdout, "bob reads his own file and makes files as himself")
	r = e.run(t, "run", "--image", "owners:1", "--uid", "1001", "--gid", "1001", "--", "cat", "/home/bob/note")
	assert.NotEqual(t, 0, r.ExitCode, "another user of the image may not read bob's 0600 file: %s", r)
	assert.Contains(t, r.Stderr, "Permission denied")

	// An id beyond the ranges cannot be PROG's.
	r = e.run(t, "run", "--image", "owners:1", "--uid", "70000", "--", "true")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "70000 is not mapped: this user's ids inside are uid 0=")

	// PROG has no capability, even as root inside: owners it did not make
	// are not its to change.
	r = e.run(t, "run", "--image", "owners:1", "--", "sh", "-c", "chown 0:0 /home/bob/note")
	assert.NotEqual(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "Operation not permitted")

	// On disk, the files belong to the range's ids, not to the user.
	layers, err := filepath.Glob(filepath.Join(e.store, "layers", "*", "fs", "home", "bob", "note"))
	require.NoError(t, err)
	require.Len(t, layers, 1)
	var st syscall.Stat_t
	require.NoError(t, syscall.Lstat(layers[0], &st))
	wantUID, _ := ids.UID.Outer(1000)
	wantGID, _ := ids.GID.Outer(1000)
	assert.Equal(t, [2]uint32{wantUID, wantGID}, [2]uint32{st.Uid, st.Gid})
	assert.NotEqual(t, uint32(testutil.TestUID(t)), st.Uid)

	// save gives the owners back as the image had them.
	out := filepath.Join(e.j.FixtureDir(t, "out"), "owners.tar")
	requireExit0(t, e.run(t, "image", "save", "-o", out, "owners:1"))
	assert.Equal(t, map[string][2]int{"home/bob": {1000, 1000}, "home/bob/note": {1000, 1000}, "srv": {0, 42}, "nobody": {65534, 65534}},
		layerOwners(t, out, "home/bob", "home/bob/note", "srv", "nobody"))

	requireExit0(t, e.run(t, "image", "rm", "owners:1"))
	requireExit0(t, e.run(t, "image", "prune"))
	left, err := os.ReadDir(filepath.Join(e.store, "layers"))
	require.NoError(t, err)
	assert.Empty(t, left, "prune removed the layers whose files the range's ids own")
	assertOnlyUserOwns(t, e.store)
}

// layerOwners reads the owners of names from the layers of the
// docker-archive file.
func layerOwners(t *testing.T, file string, names ...string) map[string][2]int {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string][2]int{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if !strings.HasSuffix(h.Name, ".tar") && !strings.HasSuffix(h.Name, ".tar.gz") {
			continue
		}
		lr := tar.NewReader(gunzipIfNeeded(t, tr))
		for {
			lh, err := lr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if want[lh.Name] {
				got[lh.Name] = [2]int{lh.Uid, lh.Gid}
			}
		}
	}
	return got
}

// assertOnlyUserOwns checks that every file left under dir is the test
// user's.
func assertOnlyUserOwns(t *testing.T, dir string) {
	uid := uint32(testutil.TestUID(t))
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		var st syscall.Stat_t
		require.NoError(t, syscall.Lstat(p, &st))
		assert.Equal(t, uid, st.Uid, "%s is owned by %d", p, st.Uid)
		return nil
	}))
}

// TestImageOwnersSquashed is a store that keeps no owners, as one whose
// user has no subordinate ids: every file is the user's, root inside,
// and the import says how many owners it gave up.
func TestImageOwnersSquashed(t *testing.T) {
	e := newImageEnv(t)
	e.j.Fixture(t, "store/store.json", `{"ids": null, "squashed": "set by the test"}`, 0o644)
	r := e.run(t, "image", "import", e.save(t, ownersImage(t), "owners:1"))
	requireExit0(t, r)
	assert.Contains(t, r.Stderr, "4 files' owners were given to you")
	r = e.run(t, "run", "--image", "owners:1", "--", "stat", "-c", "%u:%g %a %n", "/home/bob/note", "/srv")
	requireOK(t, r)
	assert.Equal(t, "0:0 600 /home/bob/note\n0:0 644 /srv\n", r.Stdout)
	assertOnlyUserOwns(t, e.store)
}

// TestImageStoreRangesChanged refuses a store whose owners were mapped
// with ranges the user no longer has, rather than run its files under
// other ids.
func TestImageStoreRangesChanged(t *testing.T) {
	e, ids := mappedStore(t)
	other := *ids
	other.UID = append(idmap.Map{}, ids.UID...)
	other.UID[1].Outer += 1000
	b, err := json.Marshal(map[string]any{"ids": other})
	require.NoError(t, err)
	e.j.Fixture(t, "store/store.json", string(b), 0o644)
	r := e.run(t, "image", "ls")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "holds files owned by the ids uid 0=")
	assert.Contains(t, r.Stderr, "restore those ranges in /etc/subuid and /etc/subgid")
}

// TestBuildRunHasRootsPowers builds as a Dockerfile expects: a RUN as
// root has a container root's capabilities in its namespace, so chown and
// rm of another user's files work; a RUN as another user has none; and
// the layers keep the owners the RUNs gave.
func TestBuildRunHasRootsPowers(t *testing.T) {
	e, _ := mappedStore(t)
	e.importImage(t, ownersImage(t), "owners:1")
	ctx := e.j.FixtureDir(t, "ctx")
	e.j.Fixture(t, "ctx/Dockerfile", `FROM owners:1
RUN grep -E '^Cap(Eff|Inh)' /proc/self/status && mkdir /data && chown 1000:42 /data && rm -r /home/bob
USER 1000
RUN grep CapEff /proc/self/status && touch /data/mine
`, 0o644)
	r := e.run(t, "build", "-t", "built:1", ctx)
	requireExit0(t, r)
	assert.Contains(t, r.Stdout, "CapEff:\t00000000a80425fb", "Docker's default capabilities for root")
	assert.Contains(t, r.Stdout, "CapInh:\t0000000000000000", "and none inheritable")
	assert.Contains(t, r.Stdout, "CapEff:\t0000000000000000", "none for another user")

	r = e.run(t, "run", "--image", "built:1", "--", "sh", "-c", "stat -c '%u:%g %n' /data /data/mine; ls /home; grep CapEff /proc/self/status")
	requireOK(t, r)
	assert.Equal(t, "1000:42 /data\n1000:1000 /data/mine\napp\nCapEff:\t0000000000000000\n", r.Stdout,
		"bob's home is gone, and a run of the image keeps no capability")

	out := filepath.Join(e.j.FixtureDir(t, "out"), "built.tar")
	requireExit0(t, e.run(t, "image", "save", "-o", out, "built:1"))
	assert.Equal(t, map[string][2]int{"data/": {1000, 42}, "data/mine": {1000, 1000}, "home/.wh.bob": {0, 0}},
		layerOwners(t, out, "data/", "data/mine", "home/.wh.bob"))
}

// gunzipIfNeeded reads r, gunzipped if it is gzip.
func gunzipIfNeeded(t *testing.T, r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		require.NoError(t, err)
		return zr
	}
	return br
}

// requireExit0 requires a jail command other than run to have succeeded.
func requireExit0(t *testing.T, r testutil.Result) {
	t.Helper()
	require.Equal(t, 0, r.ExitCode, "%s", r)
}
