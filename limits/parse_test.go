package limits

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		{name: "bare bytes", in: "4096", want: 4096},
		{name: "one byte", in: "1", want: 1},
		{name: "b suffix", in: "512b", want: 512},
		{name: "k is binary", in: "64K", want: 64 << 10},
		{name: "lower-case k", in: "64k", want: 64 << 10},
		{name: "KiB", in: "64KiB", want: 64 << 10},
		{name: "KB is still binary", in: "64KB", want: 64 << 10},
		{name: "M", in: "100M", want: 100 << 20},
		{name: "fractional g", in: "1.5g", want: 3 << 29},
		{name: "G", in: "2G", want: 2 << 30},
		{name: "T", in: "1T", want: 1 << 40},
		{name: "P", in: "1P", want: 1 << 50},
		{name: "space before unit", in: "100 M", want: 100 << 20},
		{name: "surrounding space", in: "  256M\t", want: 256 << 20},
		{name: "exponent", in: "1e3", want: 1000},
		{name: "largest exact power", in: "4096P", want: 1 << 62},

		{name: "empty", in: "", wantErr: "is not a size"},
		{name: "only space", in: "   ", wantErr: "is not a size"},
		{name: "garbage", in: "lots", wantErr: `"lots" is not a size`},
		{name: "unit only", in: "M", wantErr: "is not a size"},
		{name: "unknown unit", in: "10X", wantErr: "is not a size"},
		{name: "exabytes unsupported", in: "1E", wantErr: "is not a size"},
		{name: "unit then junk", in: "10MBs", wantErr: "is not a size"},
		{name: "two dots", in: "1.2.3M", wantErr: "is not a size"},
		{name: "negative", in: "-1", wantErr: "is not a size"},
		{name: "negative with unit", in: "-5M", wantErr: "is not a size"},
		{name: "zero", in: "0", wantErr: "is not a positive size"},
		{name: "zero with unit", in: "0K", wantErr: "is not a positive size"},
		{name: "negative zero", in: "-0", wantErr: "is not a positive size"},
		{name: "rounds down to zero", in: "0.5", wantErr: "is not a positive size"},
		{name: "NaN", in: "NaN", wantErr: "is not a size"},
		{name: "Inf", in: "Inf", wantErr: "is not a size"},
		{name: "float overflow", in: "1e400", wantErr: "is not a size"},
		{name: "hex", in: "0x10", wantErr: "is not a size"},
		// The next three overflow int64. They must be refused rather than
		// wrap or saturate into a huge limit.
		{name: "int64 overflow", in: "9223372036854775808", wantErr: `"9223372036854775808" is too large a size`},
		{name: "unit overflow", in: "10000P", wantErr: `"10000P" is too large a size`},
		{name: "unit times huge float", in: "1e308K", wantErr: `"1e308K" is not a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err, "ParseSize(%q) = %d", tt.in, got)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Zero(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "seconds", in: "2s", want: 2 * time.Second},
		{name: "milliseconds", in: "1500ms", want: 1500 * time.Millisecond},
		{name: "compound", in: "1m30s", want: 90 * time.Second},
		{name: "hours", in: "2h", want: 2 * time.Hour},
		{name: "bare seconds", in: "2", want: 2 * time.Second},
		{name: "bare fraction", in: "0.5", want: 500 * time.Millisecond},
		{name: "bare exponent", in: "1e3", want: 1000 * time.Second},
		{name: "exactly the resolution", in: "1ms", want: time.Millisecond},
		{name: "bare resolution", in: "0.001", want: time.Millisecond},
		{name: "surrounding space", in: " 10s\n", want: 10 * time.Second},
		{name: "microseconds above 1ms", in: "1500us", want: 1500 * time.Microsecond},

		{name: "empty", in: "", wantErr: "is not a duration"},
		{name: "garbage", in: "soon", wantErr: `"soon" is not a duration`},
		{name: "unknown unit", in: "5d", wantErr: "is not a duration"},
		{name: "missing unit in compound", in: "1m30", wantErr: "is not a duration"},
		{name: "zero", in: "0", wantErr: "below the 1ms resolution"},
		{name: "zero with unit", in: "0s", wantErr: "below the 1ms resolution"},
		{name: "negative bare", in: "-1", wantErr: "below the 1ms resolution"},
		{name: "negative with unit", in: "-5s", wantErr: "below the 1ms resolution"},
		{name: "huge negative bare", in: "-1e300", wantErr: `"-1e300"`},
		{name: "below resolution", in: "999us", wantErr: "write at least 1ms"},
		{name: "nanoseconds", in: "1ns", wantErr: "below the 1ms resolution"},
		{name: "bare below resolution", in: "0.0001", wantErr: "below the 1ms resolution"},
		{name: "NaN", in: "NaN", wantErr: "is not a usable duration"},
		{name: "Inf", in: "Inf", wantErr: "is not a usable duration"},
		{name: "negative Inf", in: "-Inf", wantErr: "is not a usable duration"},
		{name: "infinity spelled out", in: "infinity", wantErr: "is not a usable duration"},
		{name: "bare overflow", in: "1e20", wantErr: "is not a usable duration"},
		// MaxInt64 nanoseconds in seconds: f*1e9 rounds to 2^63, which does
		// not fit a Duration, so it must be caught as out of range rather
		// than wrap (amd64: negative) or saturate (arm64).
		{name: "bare overflow at the boundary", in: "9223372036.854775807", wantErr: "is not a usable duration"},
		{name: "float overflow", in: "1e400", wantErr: "is not a duration"},
		{name: "unit overflow", in: "3000000h", wantErr: "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err, "ParseDuration(%q) = %v", tt.in, got)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Zero(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr string
	}{
		{name: "percent", in: "10%", want: 10},
		{name: "several CPUs", in: "250%", want: 250},
		{name: "bare number", in: "50", want: 50},
		{name: "fraction", in: "0.5%", want: 0.5},
		{name: "surrounding space", in: " 25% ", want: 25},

		{name: "empty", in: "", wantErr: "is not a percentage"},
		{name: "percent sign only", in: "%", wantErr: "is not a percentage"},
		{name: "two percent signs", in: "10%%", wantErr: "is not a percentage"},
		{name: "space before sign", in: "10 %", wantErr: "is not a percentage"},
		{name: "garbage", in: "half", wantErr: `"half" is not a percentage`},
		{name: "NaN", in: "NaN%", wantErr: "is not a percentage"},
		{name: "Inf", in: "Inf", wantErr: "is not a percentage"},
		{name: "negative Inf", in: "-Inf%", wantErr: "is not a percentage"},
		{name: "float overflow", in: "1e400%", wantErr: "is not a percentage"},
		{name: "zero", in: "0%", wantErr: "is not a positive percentage"},
		{name: "negative", in: "-10%", wantErr: "is not a positive percentage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePercent(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err, "ParsePercent(%q) = %g", tt.in, got)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Zero(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		{name: "small", in: "64", want: 64},
		{name: "one", in: "1", want: 1},
		{name: "plus sign", in: "+5", want: 5},
		{name: "surrounding space", in: " 100\n", want: 100},
		{name: "max int64", in: "9223372036854775807", want: math.MaxInt64},

		{name: "empty", in: "", wantErr: "is not a whole number"},
		{name: "garbage", in: "many", wantErr: `"many" is not a whole number`},
		{name: "fraction", in: "1.5", wantErr: "is not a whole number"},
		{name: "unit", in: "10K", wantErr: "is not a whole number"},
		{name: "hex", in: "0x10", wantErr: "is not a whole number"},
		{name: "underscores", in: "1_000", wantErr: "is not a whole number"},
		{name: "overflow", in: "9223372036854775808", wantErr: "is not a whole number"},
		{name: "NaN", in: "NaN", wantErr: "is not a whole number"},
		{name: "Inf", in: "Inf", wantErr: "is not a whole number"},
		{name: "zero", in: "0", wantErr: "is not a positive count"},
		{name: "negative", in: "-1", wantErr: "is not a positive count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCount(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err, "ParseCount(%q) = %d", tt.in, got)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Zero(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// The fuzz targets guard the contract the CLI relies on: any string either
// fails with an error or yields a usable, positive limit. Ordinary seeds are
// added inline; the edge cases (overflow, NaN, Inf) live in
// testdata/fuzz/<FuzzName> so that a crasher found later joins them.

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100M", "1.5g", "64KiB", "4096", "0", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			assert.Zero(t, v)
			return
		}
		assert.Positive(t, v, "ParseSize(%q)", s)
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"2s", "1500ms", "1m30s", "0.5", "0", "-1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			assert.Zero(t, d)
			return
		}
		assert.GreaterOrEqual(t, d, time.Millisecond, "ParseDuration(%q)", s)
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"10%", "250%", "0.5", "0%", "-1%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePercent(s)
		if err != nil {
			assert.Zero(t, p)
			return
		}
		assert.Positive(t, p, "ParsePercent(%q)", s)
		assert.False(t, math.IsInf(p, 0) || math.IsNaN(p), "ParsePercent(%q) = %g is not finite", s, p)
	})
}
