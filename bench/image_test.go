package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"jail/internal/imagetest"
	"jail/internal/testutil"
)

// imageCmd runs jail with args as the test user, on the store, and
// returns how long it took.
func (e *env) imageCmd(b *testing.B, store, runtime string, args ...string) time.Duration {
	b.Helper()
	var stderr bytes.Buffer
	cmd := &exec.Cmd{Path: e.jail.Bin, Args: append([]string{e.jail.Bin}, args...), Dir: e.jail.Dir,
		Env:    []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "JAIL_STORE=" + store, "XDG_RUNTIME_DIR=" + runtime},
		Stdout: io.Discard, Stderr: &stderr, SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred}}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("jail %q: %v\n%s", args, err, stderr.Bytes())
	}
	return time.Since(start)
}

// BenchmarkImage measures the image store: importing, building, a cold
// run in an image against --rootfs of the same tree, and what shared
// layers save. Each b.Loop round imports into a fresh store.
func BenchmarkImage(b *testing.B) {
	e := newEnv(b)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testutil.Skip(b, "a static /bin/busybox is needed (apt-get install busybox-static): %v", err)
	}
	es := []imagetest.Entry{imagetest.Exec("bin/busybox", string(bb))}
	for _, t := range []string{"sh", "true", "echo", "cat"} {
		es = append(es, imagetest.Symlink("bin/"+t, "busybox"))
	}
	cfg := v1.Config{Env: []string{"PATH=/bin"}}
	base := imagetest.Layer(b, es...)
	app := imagetest.Image(b, cfg, base, imagetest.Layer(b, imagetest.File("app/data", strings.Repeat("d", 1<<20))),
		imagetest.Layer(b, imagetest.File("app/more", strings.Repeat("m", 1<<20))))
	archive := func(img v1.Image, ref string) string {
		tag, err := name.NewTag(ref)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tarball.Write(tag, img, &buf); err != nil {
			b.Fatal(err)
		}
		return e.jail.Fixture(b, ref[:len(ref)-2]+".tar", buf.String(), 0o644)
	}
	baseTar, appTar := archive(imagetest.Image(b, cfg, base), "base:1"), archive(app, "app:1")
	ctxDir := e.jail.FixtureDir(b, "ctx")
	e.jail.Fixture(b, "ctx/Dockerfile", "FROM base:1\nRUN echo built > /built\nCOPY file /file\n", 0o644)
	e.jail.Fixture(b, "ctx/file", "copied", 0o644)
	// Each run has a runtime directory of its own, so that each finds
	// its own sandbox built ahead, as one user running one of them would.
	rt, rtRoot, rtApp, rtSq := e.runtimeDir(b, "image"), e.runtimeDir(b, "rootfs"), e.runtimeDir(b, "app"), e.runtimeDir(b, "squashed")

	var importBase, importApp, buildCold, buildCached, importSquashed []time.Duration
	var runImage, runRootfs, runApp, runSquashed []time.Duration
	round := 0
	var lastStore string
	for b.Loop() {
		store := e.jail.FixtureDir(b, fmt.Sprintf("store-%d", round))
		lastStore = store
		importBase = append(importBase, e.imageCmd(b, store, rt, "image", "import", baseTar))
		importApp = append(importApp, e.imageCmd(b, store, rt, "image", "import", appTar))
		buildCold = append(buildCold, e.imageCmd(b, store, rt, "build", "-t", "built:1", ctxDir))
		buildCached = append(buildCached, e.imageCmd(b, store, rt, "build", "-t", "built:1", ctxDir))
		// The same image in a store that keeps no owners: one id mapped,
		// no newuidmap.
		squashed := e.jail.FixtureDir(b, fmt.Sprintf("store-squashed-%d", round))
		e.jail.Fixture(b, fmt.Sprintf("store-squashed-%d/store.json", round), `{"ids": null, "squashed": "the benchmark's"}`, 0o644)
		importSquashed = append(importSquashed, e.imageCmd(b, squashed, rtSq, "image", "import", baseTar))
		layer := e.layerDir(b, squashed, "base:1")
		for range 10 {
			runImage = append(runImage, e.imageCmd(b, store, rt, "run", "--image", "base:1", "--", "/bin/true"))
			runSquashed = append(runSquashed, e.imageCmd(b, squashed, rtSq, "run", "--image", "base:1", "--", "/bin/true"))
			runRootfs = append(runRootfs, e.imageCmd(b, store, rtRoot, "run", "--rootfs", layer, "--", "/bin/true"))
			runApp = append(runApp, e.imageCmd(b, store, rtApp, "run", "--image", "app:1", "--", "/bin/true"))
		}
		round++
	}
	var du struct {
		LayerBytes int64 `json:"layer_bytes"`
		BlobBytes  int64 `json:"blob_bytes"`
		Saved      int64 `json:"saved"`
		Layers     int   `json:"layers"`
	}
	out := e.imageOutput(b, lastStore, "image", "du", "--format", "json")
	if err := json.Unmarshal(out, &du); err != nil {
		b.Fatalf("jail image du: %v: %s", err, out)
	}
	med := func(ds []time.Duration) float64 { return ms(percentile(ds, 50)) }
	fmt.Printf("\n| step | median ms |\n|---|---|\n")
	fmt.Printf("| import base (1 layer, busybox, docker-archive) | %.1f |\n", med(importBase))
	fmt.Printf("| import base into a store that keeps no owners | %.1f |\n", med(importSquashed))
	fmt.Printf("| import app (3 layers, the base's shared) | %.1f |\n", med(importApp))
	fmt.Printf("| jail build (FROM base, RUN, COPY) | %.1f |\n", med(buildCold))
	fmt.Printf("| jail build again, from the cache | %.1f |\n", med(buildCached))
	fmt.Printf("| jail run --image base -- /bin/true | %.2f |\n", med(runImage))
	fmt.Printf("| jail run --image base, a store that keeps no owners | %.2f |\n", med(runSquashed))
	fmt.Printf("| jail run --rootfs (the base's layer) -- /bin/true | %.2f |\n", med(runRootfs))
	fmt.Printf("| jail run --image app (3 layers) -- /bin/true | %.2f |\n", med(runApp))
	fmt.Printf("\nRounds: %d (runs: %d each, interleaved). Store after the last: %d layers, %d bytes unpacked, "+
		"%d of blobs; sharing saves %d bytes.\n", round, len(runImage), du.Layers, du.LayerBytes, du.BlobBytes, du.Saved)
	b.ReportMetric(med(runImage)/med(runRootfs), "image/rootfs")
	b.ReportMetric(med(runImage)/med(runSquashed), "owners/squashed")
	if p := debianTarball(); p != "" {
		store := e.jail.FixtureDir(b, "store-debian")
		d := e.imageCmd(b, store, rt, "image", "import", "--name", "debian:bookworm", p)
		fi, _ := os.Stat(p)
		fmt.Printf("Debian (mmdebstrap minbase, %d MB): jail image import %.1f s, store %s.\n", fi.Size()>>20, d.Seconds(), store)
	}
}

// debianTarball is the Debian root cmd/jail's tests keep, if it is there.
func debianTarball() string {
	cache := os.Getenv("JAIL_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/jail-tests"
	}
	p := filepath.Join(cache, "debian-bookworm-minbase-python3.tar")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func (e *env) imageOutput(b *testing.B, store string, args ...string) []byte {
	cmd := &exec.Cmd{Path: e.jail.Bin, Args: append([]string{e.jail.Bin}, args...), Dir: e.jail.Dir,
		Env:         []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "JAIL_STORE=" + store},
		SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred}}
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("jail %q: %v", args, err)
	}
	return out
}

// layerDir is where the store unpacked the image's one layer.
func (e *env) layerDir(b *testing.B, store, ref string) string {
	var insp []struct {
		Layers []struct {
			Dir string `json:"dir"`
		} `json:"layers"`
	}
	out := e.imageOutput(b, store, "image", "inspect", ref)
	if err := json.Unmarshal(out, &insp); err != nil || len(insp) != 1 || len(insp[0].Layers) != 1 {
		b.Fatalf("jail image inspect %s: %v: %s", ref, err, out)
	}
	return insp[0].Layers[0].Dir
}
