package seccomp

import (
	"fmt"
	"slices"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A syscall libseccomp cannot name cannot be in any rule, so libseccomp
// sends it to the default action: with a kill default, a program that
// probes a call newer than this libseccomp (2.5.4 knows nothing after
// futex_requeue) dies with SV where it would fall back on ENOSYS on an
// older kernel. The stub below, prepended to libseccomp's program as
// runc's libcontainer/seccomp/patchbpf does, answers those numbers with
// ENOSYS first: every number above the highest one the ABI's table or the
// policy's rules know, and every hole below it. A number either of them
// names is left to libseccomp's program, so the policy's own rules, kills
// included, decide as before; so are calls from an ABI the policy does not
// admit (bad-arch kill) and negative numbers (-1 is what a tracer writes to
// skip a call).

// syscallWindow is how far above an ABI's first number the table is
// scanned. Linux numbers every ABI jail runs on densely from its base, up
// to about 470 today; a name above the window (arm's private 0xf000x
// calls) counts as unknown unless a rule names it.
const syscallWindow = 1024

// stubABI is one ABI's known numbers, as the stub tests them.
type stubABI struct {
	audit uint32
	// base is the ABI's first number: x32 calls carry x32SyscallBit.
	base uint32
	// max is the highest known number; holes are the unknown ranges
	// [lo, hi] below it.
	max   uint32
	holes [][2]uint32
}

// scmpAudit maps libseccomp's architectures to seccomp_data.arch.
// Architectures missing here (the mips family, numbered from 4000, 5000
// or 6000) get no stub.
var scmpAudit = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchAMD64:       unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchX32:         unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchX86:         unix.AUDIT_ARCH_I386,
	libseccomp.ArchARM64:       unix.AUDIT_ARCH_AARCH64,
	libseccomp.ArchARM:         unix.AUDIT_ARCH_ARM,
	libseccomp.ArchRISCV64:     unix.AUDIT_ARCH_RISCV64,
	libseccomp.ArchS390X:       unix.AUDIT_ARCH_S390X,
	libseccomp.ArchS390:        unix.AUDIT_ARCH_S390,
	libseccomp.ArchPPC64LE:     unix.AUDIT_ARCH_PPC64LE,
	libseccomp.ArchPPC64:       unix.AUDIT_ARCH_PPC64,
	libseccomp.ArchPPC:         unix.AUDIT_ARCH_PPC,
	libseccomp.ArchLOONGARCH64: unix.AUDIT_ARCH_LOONGARCH64,
}

// tableNumbers lists the numbers libseccomp names on arch within the
// window; the table is fixed at build time, so each arch is scanned once.
var tableNumbers = func() func(libseccomp.ScmpArch, uint32) []uint32 {
	var mu sync.Mutex
	cache := map[libseccomp.ScmpArch][]uint32{}
	return func(arch libseccomp.ScmpArch, base uint32) []uint32 {
		mu.Lock()
		defer mu.Unlock()
		if nrs, ok := cache[arch]; ok {
			return nrs
		}
		var nrs []uint32
		for nr := base; nr < base+syscallWindow; nr++ {
			if _, err := libseccomp.ScmpSyscall(int32(nr)).GetNameByArch(arch); err == nil {
				nrs = append(nrs, nr)
			}
		}
		cache[arch] = nrs
		return nrs
	}
}()

// stubABIs describes the ABIs p admits, native first.
func stubABIs(p *Policy) ([]stubABI, error) {
	native, err := nativeArch()
	if err != nil {
		return nil, err
	}
	arches := []libseccomp.ScmpArch{native}
	for _, a := range p.compatArches() {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return nil, fmt.Errorf("arch %q: %w", a, err)
		}
		arches = append(arches, arch)
	}
	var abis []stubABI
	for _, arch := range arches {
		audit, ok := scmpAudit[arch]
		if !ok {
			continue
		}
		var base uint32
		if arch == libseccomp.ArchX32 {
			base = x32SyscallBit
		}
		known := slices.Clone(tableNumbers(arch, base))
		for _, r := range p.Rules {
			for _, n := range r.Names {
				nr, err := libseccomp.GetSyscallFromNameByArch(n, arch)
				if err == nil && nr >= 0 && uint32(nr) >= base {
					known = append(known, uint32(nr))
				}
			}
		}
		if len(known) == 0 {
			continue
		}
		slices.Sort(known)
		known = slices.Compact(known)
		abi := stubABI{audit: audit, base: base, max: known[len(known)-1]}
		next := base
		for _, nr := range known {
			if nr > next {
				abi.holes = append(abi.holes, [2]uint32{next, nr - 1})
			}
			next = nr + 1
		}
		abis = append(abis, abi)
	}
	return abis, nil
}

// stubInsn is an instruction whose jump targets are labels, resolved once
// the stub's length is known.
type stubInsn struct {
	code   uint16
	k      uint32
	jt, jf int
}

// Jump targets: a count from 0 up skips that many instructions (0 falls
// through); the negative labels name the ENOSYS return, libseccomp's
// program, and the start of ABI block i (toBlock(i)).
const (
	toNext   = 0
	toENOSYS = -1
	toMain   = -2
)

func toBlock(i int) int { return -3 - i }

// enosysStub returns the instructions to put before libseccomp's program,
// none when jail knows none of p's ABIs' numbering.
func enosysStub(p *Policy) ([]unix.SockFilter, error) {
	abis, err := stubABIs(p)
	if err != nil {
		return nil, err
	}
	return assembleStub(abis)
}

// assembleStub lays out the stub for abis. It ends on its ENOSYS return,
// so falling out of it means jumping to the program's first instruction,
// which loads seccomp_data.arch afresh.
func assembleStub(abis []stubABI) ([]unix.SockFilter, error) {
	if len(abis) == 0 {
		// Nothing to test, and nothing may fall through to the
		// ENOSYS return.
		return nil, nil
	}
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgt   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		jge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ja    = unix.BPF_JMP | unix.BPF_JA
		ret   = unix.BPF_RET | unix.BPF_K
		// seccomp_data's nr and arch offsets.
		offNR, offArch = 0, 4
		negative       = 0x80000000
	)
	var prog []stubInsn
	emit := func(code uint16, k uint32, jt, jf int) { prog = append(prog, stubInsn{code, k, jt, jf}) }
	// ranges tests one ABI's numbers, A holding a non-negative nr of
	// that ABI.
	ranges := func(a stubABI) {
		emit(jgt, a.max, toENOSYS, toNext)
		for _, h := range a.holes {
			// Skip the next test when nr > hi; nr >= lo is then a hole.
			emit(jgt, h[1], 1, toNext)
			emit(jge, h[0], toENOSYS, toNext)
		}
		emit(ja, 0, toMain, toMain)
	}

	// x86_64 and x32 share an audit arch; x32 is told by its bit.
	var blocks [][]stubABI
	for _, a := range abis {
		i := slices.IndexFunc(blocks, func(b []stubABI) bool { return b[0].audit == a.audit })
		if i < 0 {
			blocks = append(blocks, []stubABI{a})
		} else {
			blocks[i] = append(blocks[i], a)
		}
	}
	starts := make([]int, len(blocks))
	emit(ldAbs, offArch, toNext, toNext)
	for i, b := range blocks {
		starts[i] = len(prog)
		next := toBlock(i + 1)
		if i == len(blocks)-1 {
			next = toMain
		}
		emit(jeq, b[0].audit, toNext, next)
		emit(ldAbs, offNR, toNext, toNext)
		emit(jge, negative, toMain, toNext)
		var native, x32 *stubABI
		for j := range b {
			if b[j].base == x32SyscallBit {
				x32 = &b[j]
			} else {
				native = &b[j]
			}
		}
		if b[0].audit == unix.AUDIT_ARCH_X86_64 {
			if x32 == nil {
				// An x32 call under a policy without x32: the
				// program kills it as a bad ABI.
				emit(jset, x32SyscallBit, toMain, toNext)
			} else {
				// Skip the native tests to the x32 ones.
				skip := 1
				if native != nil {
					skip = 2 + 2*len(native.holes)
				}
				emit(jset, x32SyscallBit, skip, toNext)
			}
		}
		if native != nil {
			ranges(*native)
		} else {
			emit(ja, 0, toMain, toMain)
		}
		if x32 != nil {
			ranges(*x32)
		}
	}
	enosys := len(prog)
	emit(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), toNext, toNext)
	main := len(prog)

	target := func(i, label int) int {
		switch {
		case label >= 0:
			return label
		case label == toENOSYS:
			return enosys - i - 1
		case label == toMain:
			return main - i - 1
		}
		return starts[-3-label] - i - 1
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		out[i] = unix.SockFilter{Code: in.code, K: in.k}
		if in.code&0x07 != unix.BPF_JMP {
			continue
		}
		jt, jf := target(i, in.jt), target(i, in.jf)
		if in.code == ja {
			out[i].K = uint32(jt)
			continue
		}
		if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("the ENOSYS stub of %d instructions is too long for BPF jumps", len(prog))
		}
		out[i].Jt, out[i].Jf = uint8(jt), uint8(jf)
	}
	return out, nil
}
