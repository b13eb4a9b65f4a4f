package sandbox

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/verdict"
)

func TestSecondsJSON(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "zero", d: 0, want: "0.000000"},
		{name: "whole seconds", d: 2 * time.Second, want: "2.000000"},
		{name: "milliseconds", d: 1500 * time.Millisecond, want: "1.500000"},
		{name: "microsecond", d: time.Microsecond, want: "0.000001"},
		{name: "rounds to microseconds", d: 1234567 * time.Nanosecond, want: "0.001235"},
		{name: "below a microsecond", d: 400 * time.Nanosecond, want: "0.000000"},
		{name: "an hour", d: time.Hour, want: "3600.000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Seconds(tt.d))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			// The output must stay a JSON number, not a string.
			var f float64
			require.NoError(t, json.Unmarshal(b, &f))
			assert.InDelta(t, tt.d.Seconds(), f, 1e-6)
			// And it reads back as the microseconds it wrote.
			var back Seconds
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, tt.d.Round(time.Microsecond), time.Duration(back))
		})
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{
		Verdict:  verdict.TLE,
		ExitCode: 137,
		Signal:   "SIGKILL",
		Reason:   "wall time limit 1s",
		WallTime: Seconds(1500 * time.Millisecond),
		CPUUser:  Seconds(250 * time.Millisecond),
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "TLE", got["verdict"])
	assert.InDelta(t, 137, got["exit_code"], 0)
	assert.Equal(t, "SIGKILL", got["signal"])
	assert.InDelta(t, 1.5, got["wall_time"], 1e-9)
	assert.InDelta(t, 0.25, got["cpu_user"], 1e-9)
	assert.NotContains(t, got, "error", "empty error must be omitted")
}
