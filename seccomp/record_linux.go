package seccomp

import (
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Recording returns prog, a compiled policy, with every errno return
// made a user notification, so that the supervisor learns each call the
// policy denied. The supervisor runs prog itself (with its errno returns)
// on the notification's data and answers with the errno it gives, so the
// caller sees exactly what prog would have said. A notification costs the
// caller a round trip to the supervisor, which is why one call a plain
// host program probes all the time is kept quiet: see quietClone3.
//
// prog's kill returns must already be notifications (KillAs "notify"):
// the supervisor tells them apart by what prog returns.
func Recording(prog Program) (Program, error) {
	// A service records the same few policies for every task; rewriting
	// one (and asking libseccomp, through cgo, for clone3's number) cost
	// each task about 40 µs. The result is a function of prog's bytes.
	recordings.mu.Lock()
	out, ok := recordings.of[string(prog.Raw)]
	recordings.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := record(prog)
	if err != nil {
		return Program{}, err
	}
	recordings.mu.Lock()
	if len(recordings.of) < maxRecordings {
		recordings.of[string(prog.Raw)] = out
	}
	recordings.mu.Unlock()
	return out, nil
}

// maxRecordings bounds the memo: policies a request brings are not
// remembered past it.
const maxRecordings = 16

var recordings = struct {
	mu sync.Mutex
	of map[string]Program
}{of: map[string]Program{}}

func record(prog Program) (Program, error) {
	ins := make([]unix.SockFilter, 0, len(prog.Instructions)+8)
	ins = append(ins, quietClone3(prog)...)
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
// notification, when prog denies it with an errno whatever its arguments
// (the default policy does: its flags sit in memory BPF cannot read).
// glibc 2.34 and later try clone3 for every thread and every posix_spawn
// and fall back to clone on ENOSYS, so recording it would cost each of
// those a round trip and tell a user nothing.
func quietClone3(prog Program) []unix.SockFilter {
	nr, err := libseccomp.GetSyscallFromName("clone3")
	native, aerr := nativeArch()
	audit, ok := scmpAudit[native]
	if err != nil || aerr != nil || !ok {
		return nil
	}
	ret, ok := prog.argumentFreeReturn(int32(nr), audit)
	if !ok || ret&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ERRNO {
		return nil
	}
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: audit},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: unix.BPF_RET | unix.BPF_K, K: ret},
	}
}

// argumentFreeReturn follows p for system call nr of ABI arch and returns
// what it returns, if the path it takes reads nothing but nr and arch; a
// path that reads the instruction pointer or an argument, or an
// instruction outside the plain loads, jumps and returns libseccomp
// emits, answers false.
func (p Program) argumentFreeReturn(nr int32, arch uint32) (uint32, bool) {
	var a uint32
	for pc := 0; pc < len(p.Instructions); pc++ {
		in := p.Instructions[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch in.K {
			case 0:
				a = uint32(nr)
			case 4:
				a = arch
			default:
				return 0, false
			}
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var taken bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				taken = a == in.K
			case unix.BPF_JGT:
				taken = a > in.K
			case unix.BPF_JGE:
				taken = a >= in.K
			case unix.BPF_JSET:
				taken = a&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K, true
		default:
			return 0, false
		}
	}
	return 0, false
}
