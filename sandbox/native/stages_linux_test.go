package native

import "testing"

// Every stage the C side can report has a name in stages.c, and every
// step of the stages whose index names one has a name too.
func TestStageNames(t *testing.T) {
	stages := []Stage{
		StageCgroup, StageSession, StageCTTY, StageCloseFDs, StageChdir, StageRlimit, StageCaps,
		StageNoNewPrivs, StageSeccomp, StageExec, StageClone, StageTimeNS, StageEnforceLandlock, StageIPCNS, StageCgroupView, StageAhead,
		StageFDs, StageDumpable, StagePrivate, StageSource, StageUser, StageMount, StagePivot,
		StageHostname, StageLoopback, StageSignalfd, StageLookPath, StageIDMaps, StageNetNS,
		StagePidNS, StageWatch, StageLandlock, StageWarm, StageRenew, StageBeside, StagePTY, StageBounding,
	}
	for _, s := range stages {
		if s.Name() == "" || s.String() != s.Name() {
			t.Errorf("stage %d: Name %q, String %q", int(s), s.Name(), s.String())
		}
	}
	steps := map[Stage]int{StageTimeNS: 5, StageCgroupView: 4, StageAhead: 2, StageIDMaps: 3, StageNetNS: 5, StagePidNS: 6, StageWatch: 2, StageLandlock: 3, StageWarm: 6, StageRenew: 5, StageBeside: 4, StagePTY: 5}
	for s, n := range steps {
		for i := range n {
			if StepName(s, i) == "" {
				t.Errorf("%v: step %d has no name", s, i)
			}
		}
		if StepName(s, -1) != StepName(s, 0) || StepName(s, n) != StepName(s, n-1) {
			t.Errorf("%v: an index out of range is not the nearest step", s)
		}
	}
	if StepName(StageExec, 0) != "" || Stage(0).Name() != "" || Stage(99).String() != "stage 99" {
		t.Errorf("names for what has none: %q %q %q", StepName(StageExec, 0), Stage(0).Name(), Stage(99).String())
	}
}
