package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"jail/field"
)

// apiError is the one error shape of the API:
// {"error":{"code","field","message"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// retryAfter, when set, becomes the Retry-After header.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }

// Error codes.
const (
	codeBadJSON        = "bad_json"
	codeInvalid        = "invalid"
	codeTooLarge       = "too_large"
	codeOverLimit      = "over_limit"
	codeNotFound       = "not_found"
	codeQueueFull      = "queue_full"
	codeForbidden      = "forbidden"
	codeUnauthorized   = "unauthorized"
	codeDraining       = "draining"
	codeLimits         = "limits_unenforceable"
	codeInternal       = "internal"
	codeNotAllowed     = "method_not_allowed"
	codeStoreFull      = "store_full"
	codeDigestMismatch = "digest_mismatch"
	codeRateLimited    = "rate_limited"
	codeConcurrency    = "concurrency"
)

func errorf(status int, code, fieldName, msg string) *apiError {
	return &apiError{Status: status, Code: code, Field: fieldName, Message: msg}
}

// fieldErrors turns a validation error into the API's error: the first
// field error names its field; the message lists every problem, each
// field spelled by its JSON path.
func fieldErrors(status int, code string, err error) *apiError {
	var fe *field.Error
	var first string
	if errors.As(err, &fe) {
		first = fe.Field
	}
	var msgs []string
	_ = field.Map(err, func(e error) error {
		msgs = append(msgs, e.Error())
		return nil
	})
	return &apiError{Status: status, Code: code, Field: first, Message: strings.Join(msgs, "; ")}
}

func writeError(w http.ResponseWriter, e *apiError) {
	setRetryAfter(w, e)
	writeJSON(w, e.Status, map[string]any{"error": e})
}

// setRetryAfter tells a refused client when to come back, in whole
// seconds rounded up, in every API's answers alike.
func setRetryAfter(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A final view is JSON json.Marshal made (compact, HTML escaped, as
	// the Encoder writes); the Encoder would compact its 4 KB again.
	if raw, ok := v.(json.RawMessage); ok {
		_, _ = w.Write(append(raw[:len(raw):len(raw)], '\n'))
		return
	}
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
