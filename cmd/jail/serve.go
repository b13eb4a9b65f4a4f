package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"jail/image"
	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
	"jail/server"
)

type serveFlags struct {
	listen, tlsCert, tlsKey string
	parallel, queue         int
	maxFiles                int
	maxBody                 string
	keep, maxWait, drain    time.Duration
	drainDelay              time.Duration
	blobDir, store          string
	maxBlob, blobTotal      string
	blobTTL                 time.Duration
	allowNet, hashToken     bool
	tokens, limitsMode      string
	max                     map[string]string
	pools                   []string
}

func newServeCommand() *cobra.Command {
	f := &serveFlags{max: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR|unix:PATH] [flags]",
		Short: "Serve judge tasks over HTTP (the /v1 API)",
		Long: `Serve judge tasks over HTTP: POST /v1/runs takes a task as jail judge defines
it (a profile or raw steps, files, stdin or tests, a checker or an interactor)
and runs it in sandboxes, as the ordinary user jail serve runs as.

Without --tokens, only loopback and unix-socket clients are served. With
--tokens FILE, every client sends Authorization: Bearer TOKEN, and each
token has its own maxima, concurrency, rate and network permission; the
file holds only the tokens' SHA-256 (echo -n TOKEN | jail serve --hash-token).
Every run gets a cgroup of its own for its limits, or jail serve is not
ready and takes no task, saying why (--limits=host runs with what this
host can hold instead; --limits=pod under a container's own limits).

SIGTERM stops taking tasks (after --drain-delay, during which /readyz
fails but tasks are still taken), lets the running ones finish for
--drain, cancels the rest and exits.

Started by systemd with socket activation (a .socket unit; see
deploy/systemd in jail's repository), it serves on the sockets systemd
passes and ignores --listen.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.hashToken {
				return hashToken(cmd.InOrStdin(), cmd.OutOrStdout())
			}
			return serveMain(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`ADDR` (host:port) or unix:PATH to listen on")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve TLS with this certificate `FILE` (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the TLS key `FILE`")
	fl.IntVar(&f.parallel, "parallel", 0, "tasks run at once (default: the CPUs)")
	fl.IntVar(&f.queue, "queue", 0, "tasks that may wait for a worker; past it, 429 (default: 64 per worker)")
	fl.DurationVar(&f.keep, "keep", 10*time.Minute, "how long a finished task's result is kept")
	fl.DurationVar(&f.maxWait, "max-wait", time.Minute, "the longest ?wait= a request may ask")
	fl.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM, how long running tasks may take before they are cancelled")
	fl.DurationVar(&f.drainDelay, "drain-delay", 0, "on SIGTERM, how long to go on taking tasks, not ready, before the drain: the time a load balancer takes to stop sending (Kubernetes: a few seconds)")
	fl.StringVar(&f.maxBody, "max-body", "16M", "largest request body")
	fl.IntVar(&f.maxFiles, "max-files", 1000, "most files and tests in one task")
	fl.BoolVar(&f.allowNet, "allow-net", false, `let tasks ask for the host's network ("network": "host")`)
	fl.StringVar(&f.tokens, "tokens", "", "serve any client with a token of `FILE` (TOML [[token]] tables), each within its own limits")
	fl.BoolVar(&f.hashToken, "hash-token", false, "print the SHA-256 of the token read on stdin, for the tokens file, and exit")
	fl.StringVar(&f.store, "store", "", "the image store `DIR` tasks' \"image\" names come from (default $JAIL_STORE, else $XDG_DATA_HOME/jail)")
	fl.StringVar(&f.blobDir, "blob-dir", "", "keep uploaded blobs in `DIR`, across restarts (default: a fresh directory, removed on exit)")
	fl.DurationVar(&f.blobTTL, "blob-ttl", time.Hour, "drop a blob this long after its last use (an upload, a download, a task naming it)")
	fl.StringVar(&f.maxBlob, "max-blob", "256M", "largest blob")
	fl.StringVar(&f.blobTotal, "blob-total", "1G", "most bytes all blobs may take; past it, 507 until blobs expire")
	fl.StringVar(&f.limitsMode, "limits", "cgroup", "how tasks' limits are held: `cgroup` (by a cgroup per run, or not ready and no task), host (as this host can; each result says what it cannot), pod (by the container's own limits, one task at a time; each result says limits_source pod)")
	fl.StringSliceVar(&f.pools, "pool", nil, "keep `PROFILE=N[:reuse]` warm sandboxes ready for tasks of that profile (default: raw steps), each serving one task or, with :reuse, task after task; e.g. python3=4,default=2:reuse")
	for _, lf := range limits.Fields {
		fl.Var(limitFlag{f.max, lf.Name}, "max-"+lf.Flag, "the most a task may ask for: "+lf.Help+" (default: each profile's own)")
	}
	return cmd
}

// limitsMode reads --limits for the server: its mode, and with cgroup,
// why this host's cgroups cannot hold the limits every profile sets
// (memory and processes), if they cannot.
func limitsMode(v, backend string, controllers, notes []string) (mode, problem string, err error) {
	switch v {
	case "host":
		return "", "", nil
	case "pod":
		return "pod", "", nil
	case "cgroup":
	default:
		return "", "", fmt.Errorf("--limits %q: give host, cgroup or pod", v)
	}
	if backend == "none" {
		return "cgroup", "no cgroup backend (" + strings.Join(notes, "; ") + ")", nil
	}
	var missing []string
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(controllers, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return "cgroup", fmt.Sprintf("the %s backend lacks the %s controller", backend, strings.Join(missing, " and ")), nil
	}
	return "cgroup", "", nil
}

// parsePools reads --pool PROFILE=N[:MODE],...
func parsePools(specs []string) ([]server.PoolSize, error) {
	var out []server.PoolSize
	for _, spec := range specs {
		name, size, ok := strings.Cut(spec, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--pool %q: give PROFILE=N, e.g. --pool python3=4", spec)
		}
		size, mode, _ := strings.Cut(size, ":")
		n, err := strconv.Atoi(size)
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--pool %s: size %q: give a number of sandboxes from 1 to 1024", name, size)
		}
		switch mode {
		case "", "single-use", "reuse":
		default:
			return nil, fmt.Errorf("--pool %s: mode %q: give single-use (the default) or reuse", spec, mode)
		}
		out = append(out, server.PoolSize{Profile: name, Size: n, Reuse: mode == "reuse"})
	}
	return out, nil
}

func serveMain(ctx context.Context, f *serveFlags) error {
	max, err := parseLimits(f.max, "max-")
	if err != nil {
		return err
	}
	body, err := limits.ParseSize(f.maxBody)
	if err != nil {
		return fmt.Errorf("--max-body: %w", err)
	}
	maxBlob, err := limits.ParseSize(f.maxBlob)
	if err != nil {
		return fmt.Errorf("--max-blob: %w", err)
	}
	blobTotal, err := limits.ParseSize(f.blobTotal)
	if err != nil {
		return fmt.Errorf("--blob-total: %w", err)
	}
	if f.blobTTL <= 0 {
		return fmt.Errorf("--blob-ttl %v: give a positive duration, e.g. 1h", f.blobTTL)
	}
	var tokens *server.Tokens
	if f.tokens != "" {
		if tokens, err = server.LoadTokens(f.tokens); err != nil {
			return err
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	pools, err := parsePools(f.pools)
	if err != nil {
		return err
	}
	ln, where, cleanup, err := serveListener(f.listen)
	if err != nil {
		return err
	}
	defer cleanup()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	sandbox.LongLivedProcess()
	runner := sandbox.NewRunner()
	// The backend probe (a systemd D-Bus round trip) is paid here, once.
	backend, controllers, notes := runner.Backend(ctx)
	mode, problem, err := limitsMode(f.limitsMode, backend, controllers, notes)
	if err != nil {
		return err
	}
	// Opened by the first task that names an image: a server that runs
	// none needs no store.
	store := sync.OnceValues(func() (*image.Store, error) { return openStore(f.store) })
	images := func(name string) (*profiles.Image, func(), error) {
		s, err := store()
		if err != nil {
			return nil, nil, err
		}
		return holdImage(s, name, true)
	}
	srv, err := server.New(server.Config{Parallel: f.parallel, Queue: f.queue, Keep: f.keep, MaxWait: f.maxWait,
		MaxBody: body, MaxFiles: f.maxFiles, Max: max, AllowNetwork: f.allowNet, Runner: runner, Logger: log,
		BlobDir: f.blobDir, MaxBlob: maxBlob, BlobTotal: blobTotal, BlobTTL: f.blobTTL, Tokens: tokens, Version: version, Pools: pools,
		Images: images, Limits: mode, LimitsProblem: problem})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving", "listen", where, "tls", f.tlsCert != "", "tokens", f.tokens, "limit_backend", backend, "notes", notes, "limits", f.limitsMode)
	if problem != "" {
		log.Error("not ready: limits cannot be enforced by cgroups", "why", problem)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	sdNotify(log, daemon.SdNotifyReady)
	go func() {
		if f.tlsCert != "" {
			errc <- hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		srv.Shutdown(context.Background())
		sandbox.Settle()
		return fmt.Errorf("serving on %s: %w", where, err)
	case <-ctx.Done():
	}
	sdNotify(log, daemon.SdNotifyStopping)
	if f.drainDelay > 0 {
		srv.Unready()
		log.Info("not ready; still taking tasks", "for", f.drainDelay.String())
		time.Sleep(f.drainDelay)
	}
	log.Info("draining", "for", f.drain.String())
	drain, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	// The tasks first: streams and waits end with them.
	srv.Shutdown(drain)
	closing, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelClose()
	_ = hs.Shutdown(closing)
	sandbox.Settle()
	log.Info("stopped")
	return nil
}

// hashToken prints the hash of the token on stdin; the line's end is not
// part of it, so echo and a file with a newline both work.
func hashToken(in io.Reader, out io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(in, 4096))
	if err != nil {
		return fmt.Errorf("--hash-token: reading stdin: %w", err)
	}
	token := strings.TrimRight(string(b), "\r\n")
	if token == "" {
		return errors.New("--hash-token: stdin is empty: pipe the token in, e.g. echo -n TOKEN | jail serve --hash-token")
	}
	_, err = fmt.Fprintln(out, server.HashToken(token))
	return err
}

// listen opens ADDR or unix:PATH. A unix socket is the caller's own (mode
// 0600 by the umask it is created under) and removed on exit; a stale one
// left by a server that died is replaced, a live one refused.
func listen(addr string) (net.Listener, func(), error) {
	path, isUnix := strings.CutPrefix(addr, "unix:")
	if !isUnix {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("--listen %s: %w", addr, err)
		}
		return ln, func() {}, nil
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("--listen %s: %s exists and is not a socket; remove it or choose another path", addr, path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("--listen %s: another server is listening there", addr)
		}
		os.Remove(path)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	return ln, func() { ln.Close(); os.Remove(path) }, nil
}
