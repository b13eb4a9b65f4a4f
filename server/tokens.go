package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"jail/limits"
)

// Tokens is the policy of a server open beyond loopback (--tokens FILE):
// who may call, and how much each may ask. The file holds one [[token]]
// table per client:
//
//	[[token]]
//	name = "playground"           # the client in logs, metrics and the queue's turns
//	sha256 = "…"                  # hex SHA-256 of the token (jail serve --hash-token)
//	max_limits = { mem = "256M", time = "2s" }   # caps each run, under the server's
//	max_compile_limits = { time = "10s" }        # caps compile steps, likewise
//	concurrency = 4               # its tasks queued or running at once (0: no bound)
//	rate = "10/s"                 # requests to /v1, N/s, N/m or N/h (absent: no bound)
//	burst = 20                    # requests at once within the rate (default: a second's worth)
//	network = false               # whether its tasks may have the host's network
//
// Only hashes are stored, so the file gives no token away.
type Tokens struct {
	list []*Token
}

// Token is one client's policy and its running counts.
type Token struct {
	Name string
	hash [sha256.Size]byte
	// Max and MaxCompile cap the limits of the token's runs and compile
	// steps, under the server's own.
	Max, MaxCompile limits.Spec
	// Concurrency bounds the token's tasks queued or running; 0 is no
	// bound but the queue's.
	Concurrency int
	// Rate is requests per second, with Burst at once; Rate 0 is no
	// bound.
	Rate    float64
	Burst   int
	Network bool
	// rate is Rate as the file spells it, for messages.
	rate string

	mu     sync.Mutex
	active int
	// allowance is the token bucket: requests that may come now, refilled
	// at Rate up to Burst since last.
	allowance float64
	last      time.Time
}

// HashToken is the hex SHA-256 of a token, as the file's sha256 key holds it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LoadTokens reads a tokens file.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tokens: %w", err)
	}
	return ParseTokens(path, data)
}

type rawTokens struct {
	Token []rawToken `toml:"token"`
}

type rawToken struct {
	Name             string         `toml:"name"`
	SHA256           string         `toml:"sha256"`
	MaxLimits        map[string]any `toml:"max_limits"`
	MaxCompileLimits map[string]any `toml:"max_compile_limits"`
	Concurrency      int            `toml:"concurrency"`
	Rate             string         `toml:"rate"`
	Burst            int            `toml:"burst"`
	Network          bool           `toml:"network"`
}

var tokenKeys = []string{"name", "sha256", "max_limits", "max_compile_limits", "concurrency", "rate", "burst", "network"}

// The expressions are compiled when a tokens file is read, not when jail
// starts: every jail run would pay for them.
var (
	nameRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })
	typeErrRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^toml: line (\d+) \(last key "(.*?)"\): (.*)$`) })
	rateRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*(s|m|h)\s*$`) })
)

// ParseTokens reads a tokens file's text; name is the file in messages.
// Every problem is reported, each as "FILE:LINE: token[I].KEY: what is
// wrong and how to fix it"; unknown keys are errors, since a misspelt
// limit would otherwise leave a client unbounded.
func ParseTokens(name string, data []byte) (*Tokens, error) {
	var raw rawTokens
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		// A value of the wrong type carries its line only in the text.
		if m := typeErrRE().FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s: %s", name, m[1], m[2], m[3])
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lines := strings.Split(string(data), "\n")
	headers := tokenHeaders(lines)
	var errs []error
	for _, k := range md.Undecoded() {
		if len(k) == 1 || k[0] != "token" {
			errs = append(errs, fmt.Errorf("%s:%d: %s: unknown key: the file holds [[token]] tables only", name, findKey(lines, 0, len(lines), k[0]), k))
			continue
		}
		// The toml package does not say which table a key was in; the first
		// line that sets it is near enough.
		errs = append(errs, fmt.Errorf("%s:%d: token.%s: unknown key: use %s", name, findKey(lines, 0, len(lines), k[len(k)-1]), k[1],
			strings.Join(tokenKeys, ", ")))
	}
	if len(raw.Token) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no [[token]] tables: add one per client, with its name and sha256 (jail serve --hash-token)", name))
	}
	ts := &Tokens{}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, r := range raw.Token {
		from, to := headers[i], len(lines)
		if i+1 < len(headers) {
			to = headers[i+1]
		}
		bad := func(key, format string, args ...any) {
			line := findKey(lines, from, to, key)
			errs = append(errs, fmt.Errorf("%s:%d: token[%d].%s: %s", name, line, i, key, fmt.Sprintf(format, args...)))
		}
		t := &Token{Name: r.Name, Concurrency: r.Concurrency, Burst: r.Burst, Network: r.Network, rate: r.Rate}
		switch {
		case r.Name == "":
			bad("name", "missing: name the client, for logs and metrics")
		case !nameRE().MatchString(r.Name):
			bad("name", "%q: use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit", r.Name)
		case names[r.Name]:
			bad("name", "%q is given twice: each token needs its own name", r.Name)
		}
		names[r.Name] = true
		h := strings.ToLower(r.SHA256)
		switch b, err := hex.DecodeString(h); {
		case r.SHA256 == "":
			bad("sha256", "missing: write the hex SHA-256 of the token (echo -n TOKEN | jail serve --hash-token)")
		case err != nil || len(b) != sha256.Size:
			bad("sha256", "%q is not a SHA-256: write its 64 hex digits (echo -n TOKEN | jail serve --hash-token)", r.SHA256)
		case hashes[h]:
			bad("sha256", "the same token as another [[token]]: give each client its own")
		default:
			copy(t.hash[:], b)
		}
		hashes[h] = true
		for _, m := range []struct {
			key string
			raw map[string]any
			dst *limits.Spec
		}{{"max_limits", r.MaxLimits, &t.Max}, {"max_compile_limits", r.MaxCompileLimits, &t.MaxCompile}} {
			for _, k := range slices.Sorted(maps.Keys(m.raw)) {
				f, ok := limits.FieldByName(k)
				if !ok {
					bad(m.key+"."+k, "unknown limit: use one of %s", strings.Join(limitNames(), ", "))
					continue
				}
				var text string
				switch v := m.raw[k].(type) {
				case string:
					text = v
				case int64:
					text = strconv.FormatInt(v, 10)
				case float64:
					text = strconv.FormatFloat(v, 'g', -1, 64)
				default:
					bad(m.key+"."+k, "write a string such as \"256M\" or a number")
					continue
				}
				if err := f.Set(m.dst, text); err != nil {
					bad(m.key+"."+k, "%v", err)
				}
			}
		}
		if r.Concurrency < 0 {
			bad("concurrency", "%d: write 1 or more, or leave it out for no bound", r.Concurrency)
		}
		if r.Rate != "" {
			m := rateRE().FindStringSubmatch(r.Rate)
			n := 0.0
			if m != nil {
				n, _ = strconv.ParseFloat(m[1], 64)
			}
			if n <= 0 {
				bad("rate", "%q is not a rate: write requests per second, minute or hour, such as 10/s or 600/m", r.Rate)
			} else {
				t.Rate = n / map[string]float64{"s": 1, "m": 60, "h": 3600}[m[2]]
			}
		}
		switch {
		case r.Burst < 0:
			bad("burst", "%d: write 1 or more", r.Burst)
		case r.Burst > 0 && r.Rate == "":
			bad("burst", "a burst needs a rate: add rate, such as 10/s, or remove burst")
		case r.Burst == 0:
			t.Burst = max(1, int(math.Ceil(t.Rate)))
		}
		t.allowance = float64(t.Burst)
		ts.list = append(ts.list, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ts, nil
}

// tokenHeaders are the indexes of the lines that open each [[token]].
func tokenHeaders(lines []string) []int {
	var out []int
	for i, l := range lines {
		if strings.ReplaceAll(strings.TrimSpace(l), " ", "") == "[[token]]" {
			out = append(out, i)
		}
	}
	return out
}

// findKey is the 1-based line in lines[from:to] that sets key, in a table
// or inline, or opens it as a table, else the first line of the range.
func findKey(lines []string, from, to int, key string) int {
	last := key[strings.LastIndex(key, ".")+1:]
	first, _, _ := strings.Cut(key, ".")
	for _, k := range []string{last, first} {
		q := `"?` + regexp.QuoteMeta(k) + `"?`
		re := regexp.MustCompile(`(^|[{,\s])` + q + `\s*=|^\s*\[\[?\s*` + q + `\s*\]`)
		for i := from; i < to && i < len(lines); i++ {
			if re.MatchString(lines[i]) {
				return i + 1
			}
		}
	}
	return from + 1
}

// lookup finds the token whose hash is the bearer's, comparing every hash
// in constant time so that timing tells nothing of how near a guess was.
func (ts *Tokens) lookup(bearer string) *Token {
	sum := sha256.Sum256([]byte(bearer))
	var found *Token
	for _, t := range ts.list {
		if subtle.ConstantTimeCompare(sum[:], t.hash[:]) == 1 {
			found = t
		}
	}
	return found
}

// allow takes one request from the bucket; when empty, it says how long
// until the next may come.
func (t *Token) allow(now time.Time) (bool, time.Duration) {
	if t.Rate == 0 {
		return true, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() {
		t.allowance = min(float64(t.Burst), t.allowance+now.Sub(t.last).Seconds()*t.Rate)
	}
	t.last = now
	if t.allowance >= 1 {
		t.allowance--
		return true, 0
	}
	return false, time.Duration((1 - t.allowance) / t.Rate * float64(time.Second))
}

// acquire takes one of the token's task slots; release gives it back.
func (t *Token) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Concurrency > 0 && t.active >= t.Concurrency {
		return false
	}
	t.active++
	return true
}

func (t *Token) release() {
	t.mu.Lock()
	t.active--
	t.mu.Unlock()
}

type tokenKey struct{}

// tokenOf is the request's token; nil for a local client of a server
// without tokens.
func tokenOf(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}

// clientName is the client in the queue's turns, logs and metrics.
func clientName(t *Token) string {
	if t == nil {
		return "local"
	}
	return t.Name
}

// authorize finds the request's token; with none, or a wrong one, the
// answer is 401 with the challenge RFC 6750 asks for.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*Token, bool) {
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	bearer = strings.TrimSpace(bearer)
	if !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jail"`)
		s.reject(w, errorf(http.StatusUnauthorized, codeUnauthorized, "", "this server needs a token: send Authorization: Bearer TOKEN"))
		return nil, false
	}
	t := s.cfg.Tokens.lookup(bearer)
	if t == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jail", error="invalid_token"`)
		s.reject(w, errorf(http.StatusUnauthorized, codeUnauthorized, "", "the token is not one this server knows: check it, or ask for one"))
		return nil, false
	}
	return t, true
}
