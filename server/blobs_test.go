package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// raw sends a request with an optional header map and returns the bytes
// of the answer; a nil body with PUT is sent chunked, of unknown length.
func (ts *testServer) raw(t *testing.T, method, path string, body io.Reader, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://jail"+path, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b, resp.Header
}

func (ts *testServer) putBlob(t *testing.T, content string) string {
	t.Helper()
	d := digestOf(content)
	status, out, _ := ts.do(t, http.MethodPut, "/v1/blobs/"+d, content)
	require.Contains(t, []int{200, 201}, status, "%v", out)
	return d
}

func (ts *testServer) metricsText(t *testing.T) string {
	t.Helper()
	_, b, _ := ts.raw(t, http.MethodGet, "/metrics", nil, nil)
	return string(b)
}

// A blob is stored once under its digest, and served back whole; HEAD
// tells its size.
func TestBlobPutGetHead(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	const content = "1 2 3\n"
	d := digestOf(content)
	status, out, _ := ts.do(t, http.MethodPut, "/v1/blobs/"+d, content)
	require.Equal(t, 201, status, "%v", out)
	assert.Equal(t, map[string]any{"digest": d, "size": float64(len(content))}, out)
	status, _, _ = ts.do(t, http.MethodPut, "/v1/blobs/"+d, content)
	assert.Equal(t, 200, status, "stored already")

	status, b, h := ts.raw(t, http.MethodGet, "/v1/blobs/"+d, nil, nil)
	require.Equal(t, 200, status)
	assert.Equal(t, content, string(b))
	assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))

	status, b, h = ts.raw(t, http.MethodHead, "/v1/blobs/"+d, nil, nil)
	require.Equal(t, 200, status)
	assert.Empty(t, b)
	assert.Equal(t, "6", h.Get("Content-Length"))

	text := ts.metricsText(t)
	assert.Contains(t, text, "jail_blobs 1\n")
	assert.Contains(t, text, "jail_blob_bytes 6\n")
}

// Every refused upload or download says why, in the one error shape, and
// leaves nothing in the store.
func TestBlobErrors(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, Config{Parallel: 1, BlobDir: dir, MaxBlob: 10, BlobTotal: 16})
	ts.putBlob(t, "0123456789")
	other := digestOf("something else")
	tests := []struct {
		name, method, path string
		body               io.Reader
		status             int
		code, field        string
		says               []string
	}{
		{"a short digest", "PUT", "/v1/blobs/sha256:00", strings.NewReader("x"), 400, "invalid", "digest", []string{"64 lower-case hex"}},
		{"another algorithm", "PUT", "/v1/blobs/md5:" + strings.Repeat("0", 64), strings.NewReader("x"), 400, "invalid", "digest", nil},
		{"upper-case hex", "GET", "/v1/blobs/" + strings.ToUpper(digestOf("x")), nil, 400, "invalid", "digest", nil},
		{"a digest of other content", "PUT", "/v1/blobs/" + other, strings.NewReader("abc"), 422, "digest_mismatch", "digest",
			[]string{digestOf("abc"), other}},
		{"over the blob cap", "PUT", "/v1/blobs/" + digestOf("01234567890"), strings.NewReader("01234567890"), 413, "too_large", "", []string{"--max-blob"}},
		{"over the blob cap, of unknown length", "PUT", "/v1/blobs/" + digestOf("01234567890"), io.NopCloser(strings.NewReader("01234567890")), 413, "too_large", "", nil},
		{"over the total", "PUT", "/v1/blobs/" + digestOf("abcdefghij"), strings.NewReader("abcdefghij"), 507, "store_full", "", []string{"expires"}},
		{"over the total, of unknown length", "PUT", "/v1/blobs/" + digestOf("abcdefghij"), io.NopCloser(strings.NewReader("abcdefghij")), 507, "store_full", "", nil},
		{"no such blob", "GET", "/v1/blobs/" + other, nil, 404, "not_found", "digest", []string{"PUT it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b, h := ts.raw(t, tt.method, tt.path, tt.body, nil)
			require.Equal(t, tt.status, status, "%s", b)
			var out struct{ Error apiError }
			require.NoError(t, json.Unmarshal(b, &out), "%s", b)
			assert.Equal(t, tt.code, out.Error.Code)
			assert.Equal(t, tt.field, out.Error.Field)
			for _, s := range tt.says {
				assert.Contains(t, out.Error.Message, s)
			}
			if tt.code == "store_full" {
				assert.NotEmpty(t, h.Get("Retry-After"))
			}
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the one blob stored, no upload left behind")
}

// A blob unused for its time to live is dropped by the collector.
func TestBlobTTL(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, Config{Parallel: 1, BlobDir: dir, BlobTTL: 20 * time.Millisecond})
	d := ts.putBlob(t, "short-lived")
	require.Eventually(t, func() bool {
		entries, _ := os.ReadDir(dir)
		return len(entries) == 0
	}, 5*time.Second, 5*time.Millisecond)
	status, _, _ := ts.raw(t, http.MethodHead, "/v1/blobs/"+d, nil, nil)
	assert.Equal(t, 404, status)
	assert.Contains(t, ts.metricsText(t), "jail_blobs 0\n")
}

// The store's rules, on its own clock: a use refreshes a blob; a full
// store evicts expired blobs, least recently used first, and never a
// live one.
func TestBlobStoreEviction(t *testing.T) {
	b, err := newBlobStore(t.TempDir(), 10, 10, time.Minute)
	require.NoError(t, err)
	now := time.Now()
	b.now = func() time.Time { return now }
	put := func(s string) *apiError {
		h, err := parseDigest(digestOf(s))
		require.NoError(t, err)
		_, _, aerr := b.put(h, strings.NewReader(s), int64(len(s)))
		return aerr
	}
	require.Nil(t, put("aaaa"))
	now = now.Add(time.Second)
	require.Nil(t, put("bbbb"))
	aerr := put("cccc")
	require.NotNil(t, aerr, "8 of 10 bytes are live")
	assert.Equal(t, 507, aerr.Status)
	assert.Equal(t, time.Minute-time.Second, aerr.retryAfter, "until the oldest expires")

	now = now.Add(50 * time.Second)
	require.NoError(t, b.has(digestOf("aaaa")), "a task naming it is a use")
	now = now.Add(20 * time.Second) // bbbb expired, aaaa not
	require.Nil(t, put("cccc"))
	assert.NoError(t, b.has(digestOf("aaaa")))
	assert.Error(t, b.has(digestOf("bbbb")), "the expired one was evicted")
	n, bytes := b.stats()
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(8), bytes)
}

// A --blob-dir keeps its blobs across servers; the default directory is
// the server's own and goes with it.
func TestBlobDirs(t *testing.T) {
	dir := t.TempDir()
	b, err := newBlobStore(dir, 100, 100, time.Minute)
	require.NoError(t, err)
	h, _ := parseDigest(digestOf("kept"))
	_, _, aerr := b.put(h, strings.NewReader("kept"), -1)
	require.Nil(t, aerr)
	require.NoError(t, os.WriteFile(dir+"/"+uploadPrefix+"1", []byte("half"), 0o644))
	b.close()
	again, err := newBlobStore(dir, 100, 100, time.Minute)
	require.NoError(t, err)
	assert.NoError(t, again.has(digestOf("kept")))
	assert.NoFileExists(t, dir+"/"+uploadPrefix+"1", "a half-done upload is removed")

	t.Setenv("TMPDIR", t.TempDir())
	own, err := newBlobStore("", 100, 100, time.Minute)
	require.NoError(t, err)
	assert.DirExists(t, own.dir)
	own.close()
	assert.NoDirExists(t, own.dir)
}

// A task's files, input and answer may be blobs; a blob it names that
// the store lacks is a 422 at the field.
func TestTaskWithBlobs(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	src := ts.putBlob(t, "print(input())")
	in := ts.putBlob(t, "42\n")
	go func() { ts.fake.release <- struct{}{} }()
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs?wait=10s", `{"profile":"python3",
		"files":[{"name":"main.py","ref":"`+src+`"}],
		"tests":[{"stdin":{"ref":"`+in+`"},"expect":{"ref":"`+in+`"}}]}`)
	require.Equal(t, 200, status, "%v", out)
	assert.Equal(t, []string{"print(input())"}, ts.fake.sources)
	assert.Equal(t, []string{"42\n"}, ts.fake.answers)

	missing := digestOf("never uploaded")
	for body, field := range map[string]string{
		`{"profile":"python3","files":[{"name":"main.py","ref":"` + missing + `"}]}`:               "files[0].ref",
		`{"profile":"python3","tests":[{"stdin":{"ref":"` + missing + `"},"expect":{"text":""}}]}`: "tests[0].stdin.ref",
		`{"profile":"python3","tests":[{"stdin":{"text":""},"expect":{"ref":"sha256:nothex"}}]}`:   "tests[0].expect.ref",
		`{"profile":"python3","stdin":{"ref":"` + missing + `"}}`:                                  "stdin.ref",
		`{"profile":"python3","checker":{"name":"check.py","ref":"` + missing + `"},"tests":[]}`:   "checker.ref",
	} {
		status, out, _ := ts.do(t, http.MethodPost, "/v1/runs", body)
		assert.Equal(t, 422, status, "%s: %v", body, out)
		e := out["error"].(map[string]any)
		assert.Equal(t, field, e["field"], "%v", e)
		assert.Contains(t, e["message"], "sha256:", "%v", e)
	}
}

// A blob evicted while a task that names it waits in the queue takes
// nothing from the task: its files are its own from the start.
func TestEvictionKeepsQueuedTask(t *testing.T) {
	ts := startServer(t, Config{Parallel: 1})
	ts.do(t, http.MethodPost, "/v1/runs", helloTask)
	<-ts.fake.started
	src := ts.putBlob(t, "the source")
	ans := ts.putBlob(t, "the answer")
	status, out, _ := ts.do(t, http.MethodPost, "/v1/runs", `{"profile":"python3",
		"files":[{"name":"main.py","ref":"`+src+`"}],"tests":[{"stdin":{"text":""},"expect":{"ref":"`+ans+`"}}]}`)
	require.Equal(t, 202, status, "%v", out)

	ts.srv.blobs.sweep(time.Now().Add(2 * time.Hour))
	status, _, _ = ts.raw(t, http.MethodHead, "/v1/blobs/"+src, nil, nil)
	require.Equal(t, 404, status, "evicted")

	ts.fake.release <- struct{}{}
	<-ts.fake.started
	ts.fake.release <- struct{}{}
	id := out["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts.srv.mu.Lock()
	j := ts.srv.jobs[id]
	ts.srv.mu.Unlock()
	require.True(t, j.wait(ctx))
	assert.Equal(t, "done", string(j.view().State))
	ts.fake.mu.Lock()
	defer ts.fake.mu.Unlock()
	assert.Equal(t, "the source", ts.fake.sources[1])
	assert.Equal(t, "the answer", ts.fake.answers[1])
}
