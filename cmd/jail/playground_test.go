package main_test

// The playground page of `jail serve`, in a real headless Chromium, against
// the real binary run as an ordinary user: a program typed into the editor
// runs and shows its output and verdict, a loop shows TLE, tests mode shows
// each test's verdict, a C++ program compiles and runs, a compile error
// shows the compiler's message, and the page breaks none of its own
// Content-Security-Policy. Screenshots are kept in $JAIL_ARTEFACTS.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

func TestPlayground(t *testing.T) {
	testutil.NeedUserNS(t)
	chrome := chromium(t)
	artefacts := artefactDir(t)
	base := startServe(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-dev-shm-usage", true))
	if os.Getuid() == 0 {
		// Chromium refuses to run as root with its own sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The browser lives as long as the context of its first action, so it
	// starts before the timeout is set.
	require.NoError(t, chromedp.Do(bctx), "starting %s", chrome)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	// The page's exceptions and errors (its own and the browser's, such as
	// a file that did not load) fail the test at the end.
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()

	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		path := filepath.Join(artefacts, name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	// run clicks Run and waits for the verdict.
	run := func() string {
		t.Helper()
		do(chromedp.Click(chromedp.CSS("#run")),
			chromedp.WaitReady(chromedp.CSS(`body[data-running=""][data-verdict]:not([data-verdict=""])`)))
		return text("#verdict")
	}
	eval := func(js string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		require.NoError(t, err, js)
	}
	// pick chooses a language in the picker, as a user's choice does.
	pick := func(profile string) {
		t.Helper()
		eval(fmt.Sprintf(`(() => { const s = document.querySelector("#lang"); s.value = %q;
			s.dispatchEvent(new Event("change")); })()`, profile))
	}

	start := time.Now()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`))), "the page did not load its languages")

	languages, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#lang option")].map(o => o.value)`))
	require.NoError(t, err)
	assert.Subset(t, languages, []string{"python3", "cpp"}, "the picker lists /v1/profiles")

	// A program typed into the editor, key by key.
	pick("python3")
	eval(`window.jail.setCode("")`)
	program := "print(input()[::-1], 6*7)"
	do(chromedp.SendKeys(chromedp.CSS(".cm-content"), program),
		chromedp.SetValue(chromedp.CSS("#stdin"), "olleh\n"))
	code, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.jail.getCode()`))
	require.NoError(t, err)
	assert.Equal(t, program, code, "what was typed is the editor's text")
	// The Python parser is loaded when the language is chosen; its
	// highlighting marks the names and the numbers.
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelectorAll(".cm-line span[class]").length > 0`, chromedp.WithPollingTimeout(10*time.Second)))
	assert.NoError(t, err, "the editor highlights Python")
	assert.Equal(t, "OK", run())
	assert.Equal(t, "hello 42", strings.TrimSpace(text("#stdout")))
	for _, stat := range []string{"#stat-cpu", "#stat-wall", "#stat-mem"} {
		v := text(stat)
		assert.NotContains(t, []string{"", "–"}, v, "%s shows a value", stat)
	}
	screenshot("playground-run")

	// A loop under a small time limit.
	eval(`window.jail.setCode("while True:\n    pass\n")`)
	do(chromedp.SetValue(chromedp.CSS("#limit-time"), "0.5s"))
	assert.Equal(t, "TLE", run())
	assert.Contains(t, strings.ToLower(text("#reason")), "time")
	screenshot("playground-tle")

	// Tests mode: the starter case passes, an added one fails.
	do(chromedp.SetValue(chromedp.CSS("#limit-time"), "2s"),
		chromedp.Click(chromedp.CSS("#mode-tests")),
		chromedp.Click(chromedp.CSS("#add-test")),
		chromedp.SendKeys(chromedp.CSS("#tests li:nth-child(2) .case-stdin"), "2 2\n"),
		chromedp.SendKeys(chromedp.CSS("#tests li:nth-child(2) .case-expect"), "5\n"))
	eval(`window.jail.setCode("a, b = map(int, input().split())\nprint(a + b)\n")`)
	assert.Equal(t, "WA", run())
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#test-results tr.test-row")].map(r => r.dataset.test + ":" + r.dataset.verdict)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"1:OK", "2:WA"}, rows)
	assert.Contains(t, text("#status"), "1 of 2 tests passed")
	assert.Contains(t, text("#test-results"), `expected "5", got "4"`)
	screenshot("playground-tests")

	// C++: the starter program compiles and runs; a mistake shows the
	// compiler's message.
	do(chromedp.Click(chromedp.CSS("#mode-run")))
	pick("cpp")
	do(chromedp.SetValue(chromedp.CSS("#stdin"), "jail\n"))
	assert.Equal(t, "OK", run())
	assert.Equal(t, "Hello, jail!", strings.TrimSpace(text("#stdout")))
	eval(`window.jail.setCode("int main() { return undeclared; }\n")`)
	assert.Equal(t, "CE", run())
	assert.Contains(t, text("#compile-output"), "undeclared")
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]bool](
		`["#stats", "#run-output"].map(s => document.querySelector(s).checkVisibility())`))
	require.NoError(t, err)
	assert.Equal(t, []bool{false, false}, shown, "a program that did not compile shows no run")
	screenshot("playground-ce")

	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.jail.cspViolations`))
	require.NoError(t, err)
	assert.Empty(t, violations, "the page keeps to its Content-Security-Policy")
	mu.Lock()
	assert.Empty(t, problems, "the page's console")
	mu.Unlock()
	t.Logf("the page's checks took %v", time.Since(start).Round(time.Millisecond))
}

// chromium finds the browser: $JAIL_CHROMIUM, else Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JAIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.Skip(t, "no chromium to test the playground page in (apt-get install chromium, or set JAIL_CHROMIUM)")
	return ""
}

// artefactDir is where the screenshots go: $JAIL_ARTEFACTS/playground,
// kept, or a temporary directory removed after the test.
func artefactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("JAIL_ARTEFACTS")
	if root == "" {
		t.Log("JAIL_ARTEFACTS is unset: the screenshots are removed after the test")
		return t.TempDir()
	}
	dir := filepath.Join(root, "playground")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// startServe runs `jail serve` on a free loopback port as the test user,
// waits until it is ready, and stops it at the end of the test.
func startServe(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)

	j := testutil.New(t)
	srv := j.Start(t, testutil.Opts{}, "serve", "--limits=host", "--listen", addr, "--parallel", "2")
	exited := make(chan testutil.Result, 1)
	go func() {
		res, _ := srv.WaitErr()
		exited <- res
	}()
	t.Cleanup(func() {
		_ = srv.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case res := <-exited:
			if t.Failed() {
				t.Logf("jail serve's log:\n%s", res.Stderr)
			}
		case <-time.After(10 * time.Second):
			_ = srv.Cmd.Process.Kill()
			<-exited
			t.Error("jail serve did not stop within 10s of SIGTERM")
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case res := <-exited:
			exited <- res
			t.Fatalf("jail serve exited before it was ready (exit %d):\n%s", res.ExitCode, res.Stderr)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jail serve at %s was not ready within 15s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
