package limits

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/field"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr []string // every substring must appear; nil means valid
	}{
		{name: "no limits", spec: Spec{}},
		{name: "every limit at a sane value", spec: Spec{
			Memory: 100 << 20, CPUPercent: 50, CPUs: "0-1", Pids: 64, CPUTime: 2 * time.Second, ExtraTime: time.Second,
			Wall: 10 * time.Second, Output: 1 << 20, FileSize: 10 << 20, OpenFiles: 64,
		}},
		{name: "memory at the 1M floor", spec: Spec{Memory: 1 << 20}},
		{name: "cpu at the 0.1% floor", spec: Spec{CPUPercent: 0.1}},
		{name: "cpu at the ceiling", spec: Spec{CPUPercent: MaxCPUPercent}},
		{name: "nofile at the floor", spec: Spec{OpenFiles: 4}},
		{name: "nofile at nr_open", spec: Spec{OpenFiles: 1 << 20}},
		{name: "extra time with cpu time", spec: Spec{CPUTime: time.Second, ExtraTime: 500 * time.Millisecond}},
		{name: "one cpu", spec: Spec{CPUs: "0"}},
		{name: "cpu list", spec: Spec{CPUs: "0-3,6,8-9"}},

		{name: "negative memory", spec: Spec{Memory: -1}, wantErr: []string{"mem: -1", "must be positive"}},
		{name: "memory below 1M", spec: Spec{Memory: 1<<20 - 1}, wantErr: []string{"mem: 1048575 bytes", "give at least 1M"}},
		{name: "negative cpu", spec: Spec{CPUPercent: -5}, wantErr: []string{"cpu: -5%", "must be positive"}},
		{name: "cpu above ceiling", spec: Spec{CPUPercent: MaxCPUPercent + 1}, wantErr: []string{"cpu: 102401%", "give a smaller share"}},
		{name: "cpu infinite", spec: Spec{CPUPercent: math.Inf(1)}, wantErr: []string{"cpu: +Inf%"}},
		{name: "cpu below floor", spec: Spec{CPUPercent: 0.05}, wantErr: []string{"cpu: 0.05%", "give at least 0.1%"}},
		// NaN fails every comparison, so it must be refused explicitly or it
		// would pass as "no limit"; profiles (TOML has nan) can produce it.
		{name: "cpu NaN", spec: Spec{CPUPercent: math.NaN()}, wantErr: []string{"cpu: "}},
		{name: "negative pids", spec: Spec{Pids: -1}, wantErr: []string{"pids: -1", "must be positive"}},
		{name: "negative cpu time", spec: Spec{CPUTime: -time.Second}, wantErr: []string{"time: -1s", "must be positive"}},
		{name: "negative extra time", spec: Spec{CPUTime: time.Second, ExtraTime: -time.Second},
			wantErr: []string{"extra_time: -1s", "must be positive"}},
		{name: "extra time without cpu time", spec: Spec{ExtraTime: time.Second},
			wantErr: []string{"extra_time: 1s", "add time"}},
		{name: "cpus garbage", spec: Spec{CPUs: "all"}, wantErr: []string{`cpus: "all"`, "write a CPU list"}},
		{name: "cpus trailing comma", spec: Spec{CPUs: "0,"}, wantErr: []string{`cpus: "0,"`}},
		{name: "cpus open range", spec: Spec{CPUs: "0-"}, wantErr: []string{`cpus: "0-"`}},
		{name: "cpus with spaces", spec: Spec{CPUs: "0, 1"}, wantErr: []string{`cpus: "0, 1"`}},
		{name: "cpus reversed range", spec: Spec{CPUs: "3-1"}, wantErr: []string{`cpus: "3-1"`, "ranges low-high"}},
		{name: "negative wall", spec: Spec{Wall: -time.Second}, wantErr: []string{"wall: -1s", "must be positive"}},
		{name: "negative output", spec: Spec{Output: -1}, wantErr: []string{"output: -1", "must be positive"}},
		{name: "negative fsize", spec: Spec{FileSize: -1}, wantErr: []string{"fsize: -1", "must be positive"}},
		{name: "negative nofile", spec: Spec{OpenFiles: -1}, wantErr: []string{"nofile: -1", "must be positive"}},
		{name: "nofile too small", spec: Spec{OpenFiles: 3}, wantErr: []string{"nofile: 3", "at least 4"}},
		{name: "nofile above nr_open", spec: Spec{OpenFiles: 1<<20 + 1}, wantErr: []string{"nofile: 1048577", "give a smaller number"}},
		{name: "all problems reported at once", spec: Spec{Memory: -1, Pids: -2, Wall: -time.Second, OpenFiles: 2},
			wantErr: []string{"mem: -1", "pids: -2", "wall: -1s", "nofile: 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

// fakeBackend gives runs only the controllers listed.
type fakeBackend struct{ controllers []string }

func (b fakeBackend) Name() string          { return "fake" }
func (b fakeBackend) Controllers() []string { return b.controllers }
func (b fakeBackend) Missing() map[string]string {
	return map[string]string{"memory": "enable memory", "cpu": "enable cpu", "cpuset": "enable cpuset", "pids": "enable pids"}
}
func (b fakeBackend) Create(Spec) (Group, error) { return nil, nil }

// cgroupLimits sets every limit that only a cgroup can enforce.
var cgroupLimits = Spec{Memory: 100 << 20, CPUPercent: 50, CPUs: "0", Pids: 10}

// rlimitsAndTimers sets every limit enforced without a cgroup.
var rlimitsAndTimers = Spec{CPUTime: time.Second, ExtraTime: time.Second, Wall: time.Second,
	Output: 1 << 20, FileSize: 1 << 20, OpenFiles: 64}

func TestSpecWantedAndNeedsCgroup(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{name: "no limits", spec: Spec{}},
		{name: "timers and rlimits need no cgroup", spec: rlimitsAndTimers},
		{name: "memory", spec: Spec{Memory: 100 << 20}, want: []string{"memory"}},
		{name: "cpu", spec: Spec{CPUPercent: 50}, want: []string{"cpu"}},
		{name: "cpus", spec: Spec{CPUs: "0-1"}, want: []string{"cpuset"}},
		{name: "pids", spec: Spec{Pids: 10}, want: []string{"pids"}},
		{name: "all", spec: cgroupLimits, want: []string{"cpu", "cpuset", "memory", "pids"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.Wanted())
			assert.Equal(t, len(tt.want) > 0, tt.spec.NeedsCgroup())
		})
	}
}

func TestSpecNotEnforced(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		backend Backend
		want    map[string]string
	}{
		{name: "no limits, no backend", spec: Spec{}, want: map[string]string{}},
		{name: "timers and rlimits need no backend", spec: rlimitsAndTimers, want: map[string]string{}},
		{name: "no backend: every cgroup limit named with the reason", spec: cgroupLimits,
			want: map[string]string{"mem": "no cgroup", "cpu": "no cgroup", "cpus": "no cgroup", "pids": "no cgroup"}},
		{name: "backend with every controller", spec: cgroupLimits,
			backend: fakeBackend{controllers: []string{"cpu", "cpuset", "memory", "pids"}}, want: map[string]string{}},
		{name: "backend missing memory", spec: cgroupLimits,
			backend: fakeBackend{controllers: []string{"cpu", "cpuset", "pids"}},
			want:    map[string]string{"mem": "the memory controller is not available to fake: enable memory"}},
		{name: "backend without controllers", spec: Spec{Pids: 5, Wall: time.Second},
			backend: fakeBackend{},
			want:    map[string]string{"pids": "the pids controller is not available to fake: enable pids"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.NotEnforced(tt.backend, "no cgroup"))
		})
	}
}

// Validate's problems are values naming the limit, for each face to spell.
func TestSpecValidateFields(t *testing.T) {
	err := Spec{Memory: -1, ExtraTime: time.Second}.Validate()
	var got []field.Error
	_ = field.Map(err, func(e error) error {
		var fe *field.Error
		require.ErrorAs(t, e, &fe)
		got = append(got, *fe)
		return nil
	})
	assert.Equal(t, []field.Error{
		{Field: "mem", Msg: "-1: must be positive"},
		{Field: "extra_time", Msg: "1s: only means something with {time}; add {time}"},
	}, got)
}
