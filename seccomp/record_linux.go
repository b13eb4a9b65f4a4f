package seccomp

import (
	"slices"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Recording returns prog, p's compiled program, with every errno return
// made a user notification, so that the supervisor learns each call the
// policy denied. The supervisor runs prog itself (with its errno returns)
// on the notification's data and answers with the errno it gives, so the
// caller sees exactly what prog would have said. A notification costs the
// caller a round trip to the supervisor, which is why one call a plain
// host program probes all the time is kept quiet: see quietClone3.
//
// prog's kill returns must already be notifications (KillAs "notify"):
// the supervisor tells them apart by what prog returns.
func (p *Policy) Recording(prog Program) (Program, error) {
	ins := make([]unix.SockFilter, 0, len(prog.Instructions)+8)
	ins = append(ins, p.quietClone3()...)
	for _, in := range prog.Instructions {
		if in.Code == unix.BPF_RET|unix.BPF_K && in.K&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
			in.K = unix.SECCOMP_RET_USER_NOTIF
		}
		ins = append(ins, in)
	}
	out, err := ParseProgram(encodeInstructions(ins))
	if err != nil {
		return Program{}, err
	}
	out.Notify = true
	return out, nil
}

// quietClone3 answers a native clone3 in the kernel, without a
// notification, when p denies it with an errno whatever its arguments
// (the default policy does: its flags sit in memory BPF cannot read).
// glibc 2.34 and later try clone3 for every thread and every posix_spawn
// and fall back to clone on ENOSYS, so recording it would cost each of
// those a round trip and tell a user nothing.
func (p *Policy) quietClone3() []unix.SockFilter {
	if p.builtin != nil {
		p = p.full()
	}
	act := p.DefaultAction
	for _, r := range p.Rules {
		if !slices.Contains(r.Names, "clone3") {
			continue
		}
		if len(r.Args) > 0 {
			return nil
		}
		act = r.Action
	}
	if act.Kind != Errno {
		return nil
	}
	nr, err := libseccomp.GetSyscallFromName("clone3")
	native, aerr := nativeArch()
	audit, ok := scmpAudit[native]
	if err != nil || aerr != nil || !ok {
		return nil
	}
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: audit},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(act.Errno)},
	}
}
