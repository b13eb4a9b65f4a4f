// Package web is the playground jail serve serves at /: an editor with
// highlighting for the profiles' languages, stdin or test cases, Run, and
// the verdict with its times and memory, over the /v1 API.
//
// The page is built from src/ (CodeMirror 6, bundled by esbuild) into
// dist/, which is committed and embedded here, so building jail needs no
// node; `npm ci && npm run build` in src/ rebuilds it after a change.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// nonceMark is where index.html takes each response's CSP nonce, which
// CodeMirror puts on the style elements it makes where the browser has no
// constructable stylesheets.
const nonceMark = "{{nonce}}"

// asset is one embedded file as served: its bytes, gzipped when that
// pays, and its ETag.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var (
	loadOnce sync.Once
	assets   map[string]*asset
	index    []byte
)

// load reads and compresses the assets on the first request, not at
// start-up: every jail command links this package, and only serve uses it.
func load() {
	assets = map[string]*asset{}
	files, _ := fs.Sub(dist, "dist")
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		if name == "index.html" {
			index = b
			return nil
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, ctype: mime.TypeByExtension(path.Ext(name)), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if len(b) > 1024 {
			var z bytes.Buffer
			w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
			w.Write(b)
			w.Close()
			if z.Len() < len(b) {
				a.gz = z.Bytes()
			}
		}
		assets[name] = a
		return nil
	})
}

// Handler serves the page at exactly / and its files under /assets/;
// every other request goes to notFound.
func Handler(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			notFound.ServeHTTP(w, r)
			return
		}
		loadOnce.Do(load)
		switch name, isAsset := strings.CutPrefix(r.URL.Path, "/assets/"); {
		case r.URL.Path == "/" && index != nil:
			servePage(w)
		case isAsset && assets[name] != nil:
			serveAsset(w, r, assets[name])
		default:
			notFound.ServeHTTP(w, r)
		}
	})
}

// policy is the page's Content-Security-Policy: its own scripts and
// styles only, requests to its own server only, no frames, forms or
// plugins.
func policy(nonce string) string {
	style := "'self'"
	if nonce != "" {
		style += " 'nonce-" + nonce + "'"
	}
	return "default-src 'none'; script-src 'self'; style-src " + style + "; connect-src 'self'; " +
		"img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func headers(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Security-Policy", policy(nonce))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func servePage(w http.ResponseWriter) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.StdEncoding.EncodeToString(b)
	headers(w, nonce)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	page := bytes.ReplaceAll(index, []byte(nonceMark), []byte(nonce))
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.Write(page)
}

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	headers(w, "")
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	// Revalidated on every load (a 304 when unchanged), so a new jail
	// binary's page never runs with an old one's script.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// acceptsGzip reads an Accept-Encoding header: gzip listed and not
// refused with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
