package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// TestServeSocketActivation passes jail serve a listening unix socket the
// way systemd does (fds 3..., LISTEN_FDS, LISTEN_PID = jail's pid; sh's exec
// keeps the pid) and checks it serves there, not on --listen, says so, and
// leaves the socket's file alone on SIGTERM: it belongs to the socket unit.
// The VM lane (limits/vmtest) runs the real units under systemd.
func TestServeSocketActivation(t *testing.T) {
	// Two sockets: a socket unit with two ListenStream= lines.
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d sockets", n), func(t *testing.T) { testServeActivated(t, n) })
	}
}

func testServeActivated(t *testing.T, n int) {
	j := testutil.New(t)
	var socks []string
	var files []*os.File
	for i := range n {
		sock := filepath.Join(j.Dir, fmt.Sprintf("activated-%d.sock", i))
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		require.NoError(t, err)
		ln.SetUnlinkOnClose(false)
		lf, err := ln.File()
		require.NoError(t, err)
		ln.Close()
		defer lf.Close()
		socks = append(socks, sock)
		files = append(files, lf)
	}

	notListened := filepath.Join(j.Dir, "not-this.sock")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=$2 exec "$0" serve --limits=host --listen "unix:$1" --drain 5s`, j.Bin, notListened, strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.ExtraFiles = files
	if j.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	}
	require.NoError(t, cmd.Start())
	for _, f := range files {
		f.Close()
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	for _, sock := range socks {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
		}}
		resp, err := client.Get("http://jail/healthz")
		require.NoError(t, err, "jail serve stderr:\n%s", &stderr)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	}
	assert.NoFileExists(t, notListened, "jail serve listened on --listen too")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		assert.NoError(t, err, "jail serve's exit after SIGTERM; stderr:\n%s", &stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("jail serve did not stop on SIGTERM; stderr:\n%s", &stderr)
	}
	var serving string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, `"msg":"serving"`) {
			serving = l
		}
	}
	assert.Contains(t, serving, `"listen":"systemd:`+strings.Join(socks, ",")+`"`, "stderr:\n%s", &stderr)
	for _, sock := range socks {
		assert.FileExists(t, sock, "the socket unit's file was removed")
	}
}
