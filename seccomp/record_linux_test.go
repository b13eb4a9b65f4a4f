package seccomp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func vmOf(t *testing.T, prog Program) *bpf.VM {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog.Instructions))
	for i, in := range prog.Instructions {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	insts, ok := bpf.Disassemble(raw)
	require.True(t, ok)
	vm, err := bpf.NewVM(insts)
	require.NoError(t, err)
	return vm
}

// TestRecordingNotifiesEveryErrno: the recording variant of each built-in
// returns a notification exactly where the policy's own program returns
// an errno (clone3 apart), and the policy's answer everywhere else, so the
// init, which runs the policy's program on each notification, answers as
// the kernel would have.
func TestRecordingNotifiesEveryErrno(t *testing.T) {
	for _, p := range Builtins() {
		t.Run(p.Name, func(t *testing.T) {
			prog, err := p.Compile(CompileOptions{KillAs: "notify"})
			require.NoError(t, err)
			rec, err := Recording(prog)
			require.NoError(t, err)
			assert.True(t, rec.Notify)
			orig, recVM := vmOf(t, prog), vmOf(t, rec)
			calls := []struct {
				name string
				args [6]uint64
			}{
				{"read", [6]uint64{}}, {"chroot", [6]uint64{}}, {"mount", [6]uint64{}},
				{"socket", [6]uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}},
				{"socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}},
				{"socket", [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET}},
				{"ptrace", [6]uint64{}}, {"bpf", [6]uint64{}}, {"clock_settime", [6]uint64{}},
				{"io_uring_setup", [6]uint64{}}, {"getpid", [6]uint64{}},
			}
			sawErrno := false
			for _, c := range calls {
				n := nr(t, c.name)
				want := runVM(t, orig, n, nativeAudit, c.args)
				got := runVM(t, recVM, n, nativeAudit, c.args)
				if want&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
					sawErrno = true
					assert.Equal(t, uint32(unix.SECCOMP_RET_USER_NOTIF), got, "%s%v: the policy says errno %d", c.name, c.args, want&0xffff)
				} else {
					assert.Equal(t, want, got, "%s%v", c.name, c.args)
				}
			}
			assert.True(t, sawErrno, "no call of the table is an errno denial of %s", p.Name)
			// An unknown number (the ENOSYS stub) is recorded too.
			assert.Equal(t, uint32(unix.SECCOMP_RET_USER_NOTIF), runVM(t, recVM, 1000, nativeAudit, [6]uint64{}))
			assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, orig, 1000, nativeAudit, [6]uint64{}))
			// clone3 keeps its errno in the kernel: glibc tries it for
			// every thread.
			clone3 := nr(t, "clone3")
			assert.Equal(t, runVM(t, orig, clone3, nativeAudit, [6]uint64{}), runVM(t, recVM, clone3, nativeAudit, [6]uint64{}))
			assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, recVM, clone3, nativeAudit, [6]uint64{}))
		})
	}
}

// TestRecordingClone3: a policy that allows clone3, or decides it by its
// arguments, gets no stub that would deny it; one that denies it with an
// errno outright gets the stub; a kill is not answered in the kernel.
func TestRecordingClone3(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Policy
		stub bool
	}{
		{"allowed", &Policy{Name: "t", DefaultAction: ActErrno(unix.EPERM), Rules: []Rule{{Names: []string{"clone3"}, Action: ActAllow}}}, false},
		{"by-argument", &Policy{Name: "t", DefaultAction: ActErrno(unix.EPERM), Rules: []Rule{{Names: []string{"clone3"}, Action: ActAllow,
			Args: []ArgCond{{Index: 1, Op: OpEQ, Value: 88}}}}}, false},
		{"default-errno", &Policy{Name: "t", DefaultAction: ActErrno(unix.EPERM), Rules: []Rule{{Names: []string{"read"}, Action: ActAllow}}}, true},
		{"killed", &Policy{Name: "t", DefaultAction: ActKill, Rules: []Rule{{Names: []string{"read"}, Action: ActAllow}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := tc.p.Compile(CompileOptions{KillAs: "notify", Fresh: true})
			require.NoError(t, err)
			if tc.stub {
				assert.Len(t, quietClone3(prog), 5)
			} else {
				assert.Empty(t, quietClone3(prog))
			}
		})
	}
}
