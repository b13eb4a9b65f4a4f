package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func serve(t *testing.T, method, path string, header ...string) *http.Response {
	t.Helper()
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not found", 404) })
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	Handler(notFound).ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return string(b)
}

func TestPage(t *testing.T) {
	r := serve(t, "GET", "/")
	require.Equal(t, 200, r.StatusCode)
	page := body(t, r)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	csp := r.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self';")
	assert.Contains(t, csp, "connect-src 'self'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe", "no inline scripts or styles but the nonce's")
	m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	require.NotNil(t, m, csp)
	assert.Contains(t, page, `content="`+m[1]+`"`, "the page carries its response's nonce")
	assert.NotContains(t, page, nonceMark)
	again := serve(t, "GET", "/").Header.Get("Content-Security-Policy")
	assert.NotEqual(t, csp, again, "each response has a nonce of its own")

	// Everything the page loads is embedded, and nothing comes from
	// elsewhere.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, refs)
	for _, ref := range refs {
		if ref[1] == "data:," {
			continue
		}
		require.True(t, strings.HasPrefix(ref[1], "/assets/"), "the page loads %s", ref[1])
		assert.Equal(t, 200, serve(t, "GET", ref[1]).StatusCode, ref[1])
	}
}

func TestAssets(t *testing.T) {
	r := serve(t, "GET", "/assets/app.js")
	require.Equal(t, 200, r.StatusCode)
	js := body(t, r)
	assert.Equal(t, "text/javascript; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	assert.Empty(t, r.Header.Get("Content-Encoding"))
	// The chunks app.js imports are there too.
	chunks := regexp.MustCompile(`"\./([\w-]+\.js)"`).FindAllStringSubmatch(js, -1)
	require.NotEmpty(t, chunks, "app.js imports its chunks")
	for _, m := range chunks {
		assert.Equal(t, 200, serve(t, "GET", "/assets/"+m[1]).StatusCode, m[1])
	}

	gz := serve(t, "GET", "/assets/app.js", "Accept-Encoding", "br, gzip")
	assert.Equal(t, "gzip", gz.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(gz.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, js, string(plain))
	assert.Empty(t, serve(t, "GET", "/assets/app.js", "Accept-Encoding", "gzip;q=0").Header.Get("Content-Encoding"))

	etag := r.Header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, 304, serve(t, "GET", "/assets/app.js", "If-None-Match", etag).StatusCode)
}

func TestNotThePage(t *testing.T) {
	for _, c := range []struct{ method, path string }{
		{"POST", "/"}, {"GET", "/index.html"}, {"GET", "/assets/"}, {"GET", "/assets/index.html"},
		{"GET", "/assets/nope.js"}, {"GET", "/v1/nope"}, {"DELETE", "/assets/app.js"},
	} {
		assert.Equal(t, 404, serve(t, c.method, c.path).StatusCode, "%s %s", c.method, c.path)
	}
}

// TestDistIsBuilt fails when a source changed and dist was not rebuilt
// (npm ci && npm run build in src/): build.mjs records the sources'
// digest, computed here the same way.
func TestDistIsBuilt(t *testing.T) {
	src, err := os.ReadFile("src/build.mjs")
	require.NoError(t, err)
	m := regexp.MustCompile(`export const sources = \[([^\]]*)\]`).FindSubmatch(src)
	require.NotNil(t, m, "build.mjs lists its sources")
	h := sha256.New()
	for _, name := range regexp.MustCompile(`"([^"]+)"`).FindAllSubmatch(m[1], -1) {
		b, err := os.ReadFile(filepath.Join("src", string(name[1])))
		require.NoError(t, err)
		h.Write(append(append(name[1], 0), append(b, 0)...))
	}
	built, err := dist.ReadFile("dist/sources.sha256")
	require.NoError(t, err)
	assert.Equal(t, string(bytes.TrimSpace(built)), hex.EncodeToString(h.Sum(nil)),
		"server/web/dist is older than server/web/src: run `npm ci && npm run build` in server/web/src and commit dist")
}
