package seccomp

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// CompileOptions adjusts how a policy becomes BPF.
type CompileOptions struct {
	// KillAs is "kill" (the default when empty) or "notify": with
	// "notify" every Kill action, the rules' and the default's, becomes
	// SECCOMP_RET_USER_NOTIF, so a supervisor can read the violating
	// syscall from the notification, then kill the process itself.
	// Calls from a non-native ABI are still killed by the kernel.
	KillAs string
	// Fresh compiles even when a precompiled program matches (go generate
	// and the test that checks the embedded programs are current).
	Fresh bool
}

// Program is a compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER).
type Program struct {
	// Raw is the filter as the kernel reads it: 8-byte struct sock_filter
	// entries in native byte order.
	Raw []byte
	// Instructions is Raw decoded.
	Instructions []unix.SockFilter
	// Notify says the filter can return SECCOMP_RET_USER_NOTIF: it must be
	// loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER, and the kernel then
	// refuses SECCOMP_FILTER_FLAG_TSYNC without TSYNC_ESRCH.
	Notify bool
}

// Fprog returns the struct sock_fprog pointing into p.Instructions; keep p
// alive until the seccomp call returns.
func (p *Program) Fprog() *unix.SockFprog {
	if len(p.Instructions) == 0 {
		return &unix.SockFprog{}
	}
	return &unix.SockFprog{Len: uint16(len(p.Instructions)), Filter: &p.Instructions[0]}
}

// Compile turns p into BPF with libseccomp. It runs in the parent, before
// clone: libseccomp allocates and the child must not.
func (p *Policy) Compile(opts CompileOptions) (Program, error) {
	if p.builtin != nil {
		if !opts.Fresh {
			if prog, ok := precompiledBuiltin(p.Name, opts); ok {
				return prog, nil
			}
		}
		p = p.full()
	}
	if !opts.Fresh {
		if prog, ok := precompiled(p.Fingerprint(opts)); ok {
			return prog, nil
		}
	}
	if err := p.Validate(); err != nil {
		return Program{}, err
	}
	var notify bool
	switch opts.KillAs {
	case "", "kill":
	case "notify":
		notify = true
	default:
		return Program{}, fmt.Errorf("compiling seccomp policy: KillAs %q: want kill or notify", opts.KillAs)
	}
	toScmp := func(a Action) libseccomp.ScmpAction {
		switch a.Kind {
		case Allow:
			return libseccomp.ActAllow
		case Errno:
			return libseccomp.ActErrno.SetReturnCode(int16(a.Errno))
		case Log:
			return libseccomp.ActLog
		case Notify:
			return libseccomp.ActNotify
		}
		if notify {
			return libseccomp.ActNotify
		}
		return libseccomp.ActKillProcess
	}
	def := toScmp(p.DefaultAction)
	usesNotify := def == libseccomp.ActNotify

	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return Program{}, fmt.Errorf("compiling seccomp policy: %w", err)
	}
	defer f.Release()
	if err := f.SetOptimize(2); err != nil {
		return Program{}, fmt.Errorf("compiling seccomp policy: %w", err)
	}
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return Program{}, fmt.Errorf("compiling seccomp policy: setting the bad-arch action: %w", err)
	}
	for _, a := range p.compatArches() {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return Program{}, fmt.Errorf("compiling seccomp policy: arch %q: %w", a, err)
		}
		if err := f.AddArch(arch); err != nil {
			return Program{}, fmt.Errorf("compiling seccomp policy: adding arch %s: %w", a, err)
		}
	}
	for i, r := range p.Rules {
		act := toScmp(r.Action)
		// libseccomp refuses rules that repeat the default action
		// (EACCES); they change nothing, so runc skips them too.
		if act == def {
			continue
		}
		usesNotify = usesNotify || act == libseccomp.ActNotify
		conds := make([]libseccomp.ScmpCondition, 0, len(r.Args))
		for _, c := range r.Args {
			sc, err := scmpCondition(c)
			if err != nil {
				return Program{}, fmt.Errorf("compiling seccomp policy: %s: %w", ruleName(i, r), err)
			}
			conds = append(conds, sc)
		}
		for _, n := range r.Names {
			nr, err := libseccomp.GetSyscallFromName(n)
			if err != nil {
				return Program{}, fmt.Errorf("compiling seccomp policy: %s: syscall %q: %w", ruleName(i, r), n, err)
			}
			if len(conds) == 0 {
				err = f.AddRule(nr, act)
			} else {
				err = f.AddRuleConditional(nr, act, conds)
			}
			if err != nil && len(conds) > 0 && len(p.compatArches()) > 0 {
				// i386 reaches socket() through socketcall(2), whose
				// arguments sit in memory: libseccomp cannot add a
				// second argument rule there and says EEXIST.
				return Program{}, fmt.Errorf("compiling seccomp policy: %s: adding %s for %s: %w (argument rules may not be expressible on a non-native ABI; set native_only)",
					ruleName(i, r), n, strings.Join(p.abiNames(), "/"), err)
			}
			if err != nil {
				return Program{}, fmt.Errorf("compiling seccomp policy: %s: adding %s: %w", ruleName(i, r), n, err)
			}
		}
	}
	raw, err := exportBPF(f)
	if err != nil {
		return Program{}, fmt.Errorf("compiling seccomp policy: %w", err)
	}
	// Only a kill default needs the stub: an errno, log or allow default
	// already lets a program that probes a call it cannot have go on, with
	// the answer the policy's author chose.
	if p.DefaultAction.Kind == Kill {
		stub, err := enosysStub(p)
		if err != nil {
			return Program{}, fmt.Errorf("compiling seccomp policy: %w", err)
		}
		raw = append(encodeInstructions(stub), raw...)
	}
	prog, err := ParseProgram(raw)
	if err != nil {
		return Program{}, fmt.Errorf("compiling seccomp policy: %w", err)
	}
	prog.Notify = usesNotify
	return prog, nil
}

// ParseProgram decodes raw BPF as exported by libseccomp.
func ParseProgram(raw []byte) (Program, error) {
	if len(raw) == 0 || len(raw)%8 != 0 {
		return Program{}, fmt.Errorf("bpf program of %d bytes: not a whole number of 8-byte instructions", len(raw))
	}
	if len(raw)/8 > 4096 {
		return Program{}, fmt.Errorf("bpf program of %d instructions: the kernel takes at most 4096", len(raw)/8)
	}
	ins := make([]unix.SockFilter, len(raw)/8)
	for i := range ins {
		b := raw[i*8:]
		ins[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return Program{Raw: raw, Instructions: ins}, nil
}

// encodeInstructions lays ins out as the kernel reads them.
func encodeInstructions(ins []unix.SockFilter) []byte {
	raw := make([]byte, 0, 8*len(ins))
	for _, in := range ins {
		raw = binary.NativeEndian.AppendUint16(raw, in.Code)
		raw = append(raw, in.Jt, in.Jf)
		raw = binary.NativeEndian.AppendUint32(raw, in.K)
	}
	return raw
}

// exportBPF goes through a memfd because libseccomp 2.5 has no
// export-to-memory call, and a pipe would deadlock on a filter larger than
// the pipe buffer.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("jail-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "memfd_create", Err: err}
	}
	file := os.NewFile(uintptr(fd), "jail-seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("exporting bpf: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading exported bpf: %w", err)
	}
	raw, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("reading exported bpf: %w", err)
	}
	return raw, nil
}

func scmpCondition(c ArgCond) (libseccomp.ScmpCondition, error) {
	ops := [...]libseccomp.ScmpCompareOp{
		OpEQ: libseccomp.CompareEqual, OpNE: libseccomp.CompareNotEqual,
		OpLT: libseccomp.CompareLess, OpLE: libseccomp.CompareLessOrEqual,
		OpGT: libseccomp.CompareGreater, OpGE: libseccomp.CompareGreaterEqual,
		OpMaskedEQ: libseccomp.CompareMaskedEqual,
	}
	if int(c.Op) >= len(ops) {
		return libseccomp.ScmpCondition{}, fmt.Errorf("unknown op %d", c.Op)
	}
	if c.Op == OpMaskedEQ {
		// libseccomp's masked_eq takes the mask first.
		return libseccomp.MakeCondition(c.Index, ops[c.Op], c.Mask, c.Value)
	}
	return libseccomp.MakeCondition(c.Index, ops[c.Op], c.Value)
}

var nativeArch = sync.OnceValues(libseccomp.GetNativeArch)

// compatByNative lists each architecture's compat ABIs, in libseccomp's
// names.
var compatByNative = map[libseccomp.ScmpArch][]string{
	libseccomp.ArchAMD64: {"x86", "x32"},
	libseccomp.ArchARM64: {"arm"},
	libseccomp.ArchS390X: {"s390"},
	libseccomp.ArchPPC64: {"ppc"},
}

// compatArches is the list of non-native ABIs the filter must admit.
func (p *Policy) compatArches() []string {
	if p.NativeOnly {
		return nil
	}
	if len(p.Arches) > 0 {
		return p.Arches
	}
	native, err := nativeArch()
	if err != nil {
		return nil
	}
	return compatByNative[native]
}

// abiNames names the ABIs a policy covers, native first.
func (p *Policy) abiNames() []string {
	native, err := nativeArch()
	if err != nil {
		return p.compatArches()
	}
	return append([]string{native.String()}, p.compatArches()...)
}

func checkCompatArch(a string) error {
	arch, err := libseccomp.GetArchFromString(a)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrUnknownArch, a)
	}
	native, err := nativeArch()
	if err != nil {
		return fmt.Errorf("finding the native architecture: %w", err)
	}
	if arch == native {
		return fmt.Errorf("%q is the native architecture, which every policy covers", a)
	}
	for _, c := range compatByNative[native] {
		if strings.EqualFold(c, arch.String()) {
			return nil
		}
	}
	return fmt.Errorf("%q is not a compat ABI of %s", a, native)
}

// knownSyscall reports whether name is a syscall on one of the ABIs p
// covers. libseccomp gives negative "pseudo" numbers to names that exist
// only elsewhere (chown32 on x86_64), so those do not count for the
// native arch.
func knownSyscall(name string, p *Policy) bool {
	if nr, err := libseccomp.GetSyscallFromName(name); err == nil && nr >= 0 {
		return true
	}
	for _, a := range p.compatArches() {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			continue
		}
		if nr, err := libseccomp.GetSyscallFromNameByArch(name, arch); err == nil && nr >= 0 {
			return true
		}
	}
	return false
}

// NativeSyscall reports whether name is a syscall of the native ABI.
func NativeSyscall(name string) bool {
	nr, err := libseccomp.GetSyscallFromName(name)
	return err == nil && nr >= 0
}

// x32SyscallBit marks an x32 call made on an x86_64 kernel, whose audit
// arch is AUDIT_ARCH_X86_64 as for native calls.
const x32SyscallBit = 0x40000000

type archInfo struct {
	name string
	scmp libseccomp.ScmpArch
}

var archByAudit = map[uint32]archInfo{
	unix.AUDIT_ARCH_X86_64:      {"x86_64", libseccomp.ArchAMD64},
	unix.AUDIT_ARCH_I386:        {"x86", libseccomp.ArchX86},
	unix.AUDIT_ARCH_AARCH64:     {"aarch64", libseccomp.ArchARM64},
	unix.AUDIT_ARCH_ARM:         {"arm", libseccomp.ArchARM},
	unix.AUDIT_ARCH_RISCV64:     {"riscv64", libseccomp.ArchRISCV64},
	unix.AUDIT_ARCH_S390X:       {"s390x", libseccomp.ArchS390X},
	unix.AUDIT_ARCH_S390:        {"s390", libseccomp.ArchS390},
	unix.AUDIT_ARCH_PPC64LE:     {"ppc64le", libseccomp.ArchPPC64LE},
	unix.AUDIT_ARCH_PPC64:       {"ppc64", libseccomp.ArchPPC64},
	unix.AUDIT_ARCH_PPC:         {"ppc", libseccomp.ArchPPC},
	unix.AUDIT_ARCH_MIPS:        {"mips", libseccomp.ArchMIPS},
	unix.AUDIT_ARCH_MIPSEL:      {"mipsel", libseccomp.ArchMIPSEL},
	unix.AUDIT_ARCH_MIPS64:      {"mips64", libseccomp.ArchMIPS64},
	unix.AUDIT_ARCH_MIPSEL64:    {"mipsel64", libseccomp.ArchMIPSEL64},
	unix.AUDIT_ARCH_LOONGARCH64: {"loongarch64", libseccomp.ArchLOONGARCH64},
}

// ArchName names an AUDIT_ARCH_* value as seccomp_data.arch or siginfo's
// si_arch carries it: x86_64, x86, aarch64, ... An unknown value comes back
// in hex. x32 shares x86_64's value; ABIName tells them apart.
func ArchName(auditArch uint32) string {
	if a, ok := archByAudit[auditArch]; ok {
		return a.name
	}
	return fmt.Sprintf("%#x", auditArch)
}

// ABIName is ArchName, except that x86_64 calls with the x32 bit set in nr
// are named x32.
func ABIName(nr int32, auditArch uint32) string {
	if auditArch == unix.AUDIT_ARCH_X86_64 && nr&x32SyscallBit != 0 {
		return "x32"
	}
	return ArchName(auditArch)
}

// SyscallName names syscall nr of the ABI auditArch (as reported by a
// SIGSYS siginfo or a seccomp notification), e.g. "ptrace"; a number
// libseccomp cannot name comes back as "syscall_<nr>".
func SyscallName(nr int32, auditArch uint32) string {
	if a, ok := archByAudit[auditArch]; ok {
		arch := a.scmp
		if auditArch == unix.AUDIT_ARCH_X86_64 && nr&x32SyscallBit != 0 {
			arch = libseccomp.ArchX32
		}
		if name, err := libseccomp.ScmpSyscall(nr).GetNameByArch(arch); err == nil {
			return name
		}
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// getArch normalizes an architecture name to libseccomp's.
func getArch(s string) (string, error) {
	a, err := libseccomp.GetArchFromString(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}
