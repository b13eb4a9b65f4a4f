package sandbox

import (
	"bytes"
	"fmt"
	"os"

	"jail/rootfs"
	"jail/sandbox/native"
)

// The early init of `jail run` (sandbox/native/early.c) is forked before
// the Go runtime starts and makes the sandbox's first namespaces while it
// does. An ordinary user's jail saves each run's sandbox description, and
// the next run's early init builds the whole sandbox from it before jail
// has a plan; jail then runs PROG in it if the plan turns out the same,
// as in a warm sandbox. This file decides which.

// selfMapped is cfg for an init that maps an ordinary caller's ids itself,
// as unshare -r does, which saves a round trip; when jail runs as root
// the mapping is to the overflow id, which only the parent may write, and
// subordinate ranges are newuidmap's to write.
func selfMapped(cfg *native.Config, s *Spec) {
	if asRoot() || s.IDs != nil {
		return
	}
	uid, gid := hostIDs()
	cfg.SelfMaps = true
	cfg.InnerUID, cfg.InnerGID, cfg.OuterUID, cfg.OuterGID = s.UID, s.GID, uint32(uid), uint32(gid)
}

// savable is the description of plan's sandbox as the next run's early
// init would build it, nil when that init could not build this sandbox:
// root's and one with subordinate ids (which wait for jail to write their
// id maps), and one whose root binds the run's own cgroup v1 directories,
// made for this run alone (a v2 cgroup is PROG's spawner's to show).
//
// Nor one that binds a host directory or file writable (-v SRC:DST:rw):
// the file it is saved in is one a PROG could write (its directory bound
// writable), and the early init builds before jail has compared, so it
// refuses any such description (builds_nothing_outside in warm.c). For
// the same reason, not one whose overlay writes to a host directory
// (Spec.Upper, jail build's).
func savable(s *Spec, plan *Plan, enf *enforcer) []byte {
	if cgs := enf.cgroupView(); asRoot() || s.IDs != nil || len(cgs) > 0 && !rootfs.UnifiedView(cgs) || s.Upper != "" {
		return nil
	}
	for _, op := range plan.Mounts {
		if op.Kind != rootfs.Bind || !op.Writable {
			continue
		}
		if st, err := os.Stat(op.Source); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			return nil
		}
	}
	cfg := plan.Launch
	selfMapped(&cfg, s)
	wire, err := native.WarmWire(&cfg)
	if err != nil {
		return nil
	}
	return wire
}

// takeEarly returns the early init as the warm sandbox of plan when it
// built the sandbox from a saved description that is plan's. Otherwise
// it returns the early init still waiting for a description (or nil),
// having abandoned one that built another sandbox. Either way the next
// run finds plan's description saved, or none when it cannot be built
// ahead (savable).
func (r *Runner) takeEarly(s *Spec, plan *Plan, enf *enforcer) (*Warm, *native.Early) {
	e := native.TakeEarly()
	if e == nil {
		return nil, nil
	}
	// Laying the description out costs an arena and a copy; only when it
	// can be saved or must be compared.
	var wire []byte
	if e.SavedPath != "" || e.Saved != nil {
		wire = savable(s, plan, enf)
	}
	switch {
	case e.SavedPath == "":
	case wire == nil && e.Saved != nil:
		_ = os.Remove(e.SavedPath)
	case wire != nil && !bytes.Equal(wire, e.Saved):
		// Best effort: without it the next run clones its init.
		_ = native.Save(e.SavedPath, wire)
	}
	// It has mapped jail's one id already.
	if s.IDs != nil {
		e.Abandon()
		return nil, nil
	}
	// PROG's spawner joins the run's cgroups from the init's: one left
	// behind where jail was moved from (Detect moves it along) may not.
	if len(enf.cgroupFiles()) > 0 && !inOwnCgroup(e.Init.Pid) {
		e.Abandon()
		return nil, nil
	}
	if e.Saved == nil {
		return nil, e
	}
	if wire == nil || !bytes.Equal(wire, e.Saved) {
		e.Abandon()
		return nil, nil
	}
	// Any failure on the way was this sandbox's alone (a bind source gone
	// since the last run): the cold start says what it is.
	if e.Unshared() != nil {
		e.Abandon()
		return nil, nil
	}
	if rep, err := native.ReadReport(e.Rep); err != nil || rep.Kind != native.ReportReady {
		e.Abandon()
		return nil, nil
	}
	cfg := plan.Launch
	return &Warm{r: r, config: configOf(&cfg), init: e.Init, ctl: e.Ctl, rep: e.Rep, dead: make(chan struct{})}, nil
}

// DiscardEarly ends the early init of a `jail run` that did not use it
// (it asked for help, or its flags were refused), and waits for one a run
// abandoned, so that nothing of it outlives jail.
func DiscardEarly() { native.EndEarly() }

// inOwnCgroup says process pid is in this process's cgroups.
func inOwnCgroup(pid int) bool {
	mine, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false
	}
	its, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && bytes.Equal(mine, its)
}
