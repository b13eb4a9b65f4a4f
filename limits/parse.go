// Package limits owns the resource limits of a run: how users spell them, what
// values are sane, and (later) how each one is enforced.
package limits

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// ParseSize reads a byte size such as "100M", "1.5g", "64KiB" or "4096".
// Suffixes are binary (1K = 1024), as in docker --memory, because users copy
// values between the two tools.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	// go-units converts a float to int64, which the Go spec leaves
	// undefined past the range; bound the number before it does.
	if sizeMagnitude(t) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large a size: write less than 8192P", s)
	}
	v, err := units.RAMInBytes(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: write a number with an optional unit, like 64K, 100M or 2G", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%q is not a positive size: write a number above zero, like 100M", s)
	}
	return v, nil
}

// sizeMagnitude is roughly the number of bytes t means, read the way
// go-units reads it (a number, an optional space, a unit letter), or 0
// when t does not start with a number. It is only a bound: go-units
// decides what is a size. (A regular expression did this; compiling it
// cost every run 0.1 ms.)
func sizeMagnitude(t string) float64 {
	n := 0
	for n < len(t) && (t[n] >= '0' && t[n] <= '9' || t[n] == '.') {
		n++
	}
	f, err := strconv.ParseFloat(t[:n], 64)
	if err != nil {
		return 0
	}
	unit := strings.TrimPrefix(t[n:], " ")
	if unit == "" {
		return f
	}
	return f * float64(unitBytes[unit[0]|0x20])
}

// unitBytes maps go-units' binary unit letters, lower-cased, to bytes.
var unitBytes = map[byte]int64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50}

// ParseDuration reads "2s", "1500ms", "1m30s" or a bare number of seconds
// such as "2" or "0.5" (isolate and nsjail take bare seconds).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f >= math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%q is not a usable duration: write something like 2s or 500ms", s)
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: write something like 2s, 500ms or 1.5 (seconds)", s)
		}
	}
	if d < time.Millisecond {
		return 0, fmt.Errorf("%q is below the 1ms resolution of limits: write at least 1ms", s)
	}
	return d, nil
}

// ParsePercent reads a CPU share: "10%" is a tenth of one CPU and "250%" two
// and a half CPUs. A bare number is read as a percentage too.
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a percentage: write something like 10%% (a tenth of one CPU) or 250%%", s)
	}
	if f <= 0 {
		return 0, fmt.Errorf("%q is not a positive percentage: write something like 10%%", s)
	}
	return f, nil
}

// ParseCount reads a positive whole number such as a process or file count.
func ParseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number: write something like 64", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%q is not a positive count: write a number above zero", s)
	}
	return n, nil
}
