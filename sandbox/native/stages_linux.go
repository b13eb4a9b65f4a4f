package native

/*
#include "launcher.h"
*/
import "C"

import "strconv"

// Name is what the user reads for stage s (stages.c), or "" for a number
// no stage has.
func (s Stage) Name() string { return goString(C.jail_stage_name(C.int(s))) }

// String is s's Name, or "stage N" for a number no stage has.
func (s Stage) String() string {
	if name := s.Name(); name != "" {
		return name
	}
	return "stage " + strconv.Itoa(int(s))
}

// StepName is what the user reads for step index of stage s, whose
// failures report which step failed: the nearest step for an index out of
// range, "" for a stage without steps.
func StepName(s Stage, index int) string {
	return goString(C.jail_stage_step(C.int(s), C.int(index)))
}

// SubName names the failed system call of a mount stage ("" if none).
func SubName(sub int) string { return goString(C.jail_sub_name(C.int(sub))) }

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}
