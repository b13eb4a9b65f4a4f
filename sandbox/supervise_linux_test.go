package sandbox

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"jail/limits"
)

// The result's limits come from the descriptors: every limit set, with its
// value and mechanism, and a cgroup limit the host cannot enforce says so.
func TestLimitsInForce(t *testing.T) {
	sup := &supervisor{
		spec: &Spec{Disk: 1 << 20, Limits: limits.Spec{Memory: 64 << 20, CPUPercent: 50, CPUTime: time.Second,
			ExtraTime: 500 * time.Millisecond, Wall: 3 * time.Second, OpenFiles: 16}},
		enf: &enforcer{notEnforced: map[string]string{"mem": "cgroup v1"}},
	}
	got := map[string]Limit{}
	var names []string
	for _, l := range sup.limitsInForce() {
		got[l.Name] = l
		names = append(names, l.Name)
	}
	assert.Equal(t, []string{"disk", "core", "mem", "cpu", "time", "wall", "nofile"}, names,
		"extra_time is part of time's mechanism, and unset limits are left out")
	assert.Equal(t, Limit{Name: "mem", Value: "67108864", Mechanism: "NOT ENFORCED: cgroup v1"}, got["mem"])
	assert.Equal(t, Limit{Name: "cpu", Value: "50%", Mechanism: "none CPU bandwidth quota"}, got["cpu"])
	assert.Equal(t, "1s", got["time"].Value)
	assert.Contains(t, got["time"].Mechanism, "from /proc (10ms ticks), kill at 1.5s")
	assert.Equal(t, Limit{Name: "nofile", Value: "16", Mechanism: "RLIMIT_NOFILE"}, got["nofile"])
}
