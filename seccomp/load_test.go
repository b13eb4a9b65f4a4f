package seccomp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestLoadTOMLStandalone(t *testing.T) {
	p, err := Load("testdata/tiny.toml")
	require.NoError(t, err)
	assert.Equal(t, "tiny", p.Name)
	assert.Equal(t, ActErrno(unix.ENOSYS), p.DefaultAction)
	assert.True(t, p.NativeOnly)
	require.Len(t, p.Rules, 4)
	assert.Equal(t, Rule{
		Names:   []string{"ioctl"},
		Action:  ActKill,
		Args:    []ArgCond{{Index: 1, Op: OpMaskedEQ, Mask: 0xffffffff, Value: 0x5412}},
		Comment: "TIOCSTI, whatever the high bits say",
	}, p.Rules[1])
	assert.Equal(t, ActErrno(unix.EPERM), p.Rules[2].Action)
	assert.Equal(t, []ArgCond{{Index: 0, Op: OpEQ, Value: atFDCWD}, {Index: 2, Op: OpLE, Value: 2}}, p.Rules[3].Args)

	needAMD64(t)
	vm := filterVM(t, p, CompileOptions{})
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "read"), nativeAudit, [6]uint64{}))
	assert.Equal(t, retKill, runVM(t, vm, nr(t, "ioctl"), nativeAudit, [6]uint64{0, 1<<32 | unix.TIOCSTI}))
	assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, vm, nr(t, "ioctl"), nativeAudit, [6]uint64{0, unix.TCGETS}))
	assert.Equal(t, retErrno(unix.EPERM), runVM(t, vm, nr(t, "getppid"), nativeAudit, [6]uint64{}))
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "lseek"), nativeAudit, [6]uint64{atFDCWD, 0, 1}))
	assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, vm, nr(t, "lseek"), nativeAudit, [6]uint64{3, 0, 1}))
}

func TestLoadTOMLBase(t *testing.T) {
	p, err := Load("testdata/debug.toml")
	require.NoError(t, err)
	assert.Equal(t, "debug", p.Name)
	unnamed, err := Parse("mine.toml", []byte("base = \"default\"\n"))
	require.NoError(t, err)
	assert.Equal(t, "mine.toml", unnamed.Name)
	assert.Equal(t, Default().DefaultAction, p.DefaultAction)
	assert.True(t, p.NativeOnly)
	// ptrace leaves the base's ptrace-like rule, which stays for the
	// other names, and gets a rule of its own.
	assert.Equal(t, len(Default().Rules)+1, len(p.Rules))

	needAMD64(t)
	vm := filterVM(t, p, CompileOptions{})
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "ptrace"), nativeAudit, [6]uint64{}))
	assert.Equal(t, retKill, runVM(t, vm, nr(t, "process_vm_readv"), nativeAudit, [6]uint64{}), "the rest of the ptrace-like rule stays")
	assert.Equal(t, retErrno(unix.EPERM), runVM(t, vm, nr(t, "mount"), nativeAudit, [6]uint64{}), "the base's errno rules stay")
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "read"), nativeAudit, [6]uint64{}))
}

func TestParseTOMLErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{name: "unknown top-level key", src: "default = \"kill\"\nnative_onyl = true\n",
			wantErr: `p.toml:2: unknown key "native_onyl"`},
		{name: "unknown rule key", src: "default = \"kill\"\n\n[[rule]]\nnames = [\"read\"]\naction = \"allow\"\n\n[[rule]]\nnames = [\"write\"]\nacton = \"allow\"\n",
			wantErr: `p.toml:9: unknown key "rule.acton"`},
		{name: "unknown arg key", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nargs = [\n  { index = 0, op = \"eq\", vlaue = 1 },\n]\n",
			wantErr: `p.toml:5: unknown key "rule.args.vlaue"`},
		{name: "unknown table", src: "default = \"kill\"\n[rules]\nx = 1\n",
			wantErr: `p.toml:2: unknown key "rules"`},
		{name: "bad action", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\n\n[[rule]]\nnames = [\"ptrace\"]\n# gdb\naction = \"permit\"\n",
			wantErr: `p.toml:8: rule 2 (ptrace): action: action "permit": want allow, kill`},
		{name: "missing action", src: "[[rule]]\nnames = [\"read\"]\n",
			wantErr: "p.toml:1: rule 1 (read): action: missing"},
		{name: "bad errno", src: "[[rule]]\nnames = [\"read\"]\naction = \"errno:EFOO\"\n",
			wantErr: `p.toml:3: rule 1 (read): action: action "errno:EFOO": unknown errno "EFOO"`},
		{name: "bad default", src: "name = \"x\"\ndefault = \"errno:0\"\n",
			wantErr: "p.toml:2: default: action \"errno:0\": errno 0 out of range 1-4095"},
		{name: "unknown syscall", src: "name = \"x\"\n[[rule]]\nnames = [\"read\"]\naction = \"allow\"\n[[rule]]\nnames = [\"raed\"]\naction = \"allow\"\n",
			wantErr: `p.toml:6: rule 2 (raed): names: unknown syscall "raed"`},
		{name: "arg index", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nargs = [{ index = 6, op = \"eq\", value = 1 }]\n",
			wantErr: "p.toml:4: rule 1 (read): args: args[0]: index 6 out of range 0-5"},
		{name: "bad op", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"==\", value = 1 }]\n",
			wantErr: `args[0]: unknown op "=="`},
		{name: "masked_eq without mask", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"masked_eq\", value = 1 }]\n",
			wantErr: "masked_eq needs a mask"},
		{name: "missing value", src: "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"eq\" }]\n",
			wantErr: "args[0]: missing value"},
		{name: "bad base", src: "base = \"docker\"\n",
			wantErr: `p.toml:1: base "docker": want "default" or nothing`},
		{name: "syntax", src: "default = \"kill\"\n[[rule]\n",
			wantErr: "p.toml:3: expected end of table array name delimiter"},
		{name: "wrong type", src: "default = \"kill\"\nnative_only = \"yes\"\n",
			wantErr: "p.toml:2: native_only: incompatible types: TOML value has type string; destination has type boolean"},
		{name: "arches on native only", src: "arches = [\"x86\"]\n",
			wantErr: "p.toml: seccomp policy: arches [x86]: a native-only policy admits no other ABI"},
		{name: "conflict", src: "name = \"x\"\n[[rule]]\nnames = [\"read\"]\naction = \"allow\"\n[[rule]]\nnames = [\"read\"]\naction = \"log\"\n",
			wantErr: "p.toml:7: rule 2 (read): action: log for read conflicts with rule 1 (read)'s allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(tt.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestLoadDockerProfile(t *testing.T) {
	needAMD64(t)
	p, err := Load("testdata/docker-default.json")
	require.NoError(t, err)
	assert.Equal(t, "testdata/docker-default.json", p.Name)
	assert.Equal(t, Action{Kind: Errno, Errno: 1}, p.DefaultAction)
	assert.False(t, p.NativeOnly)
	assert.Equal(t, []string{"x86", "x32"}, p.Arches)
	assert.Contains(t, p.Warnings, "skipped 2 syscall names unknown to libseccomp for amd64/x86/x32")

	var personality int
	for _, r := range p.Rules {
		for _, n := range r.Names {
			assert.NotContains(t, []string{"mount", "bpf", "unshare", "setns", "kcmp", "set_tls", "cacheflush"}, n,
				"rules gated on capabilities or other arches must not apply")
			if n == "personality" {
				personality++
			}
		}
	}
	assert.Equal(t, 5, personality)

	vm := filterVM(t, p, CompileOptions{})
	eperm := retErrno(unix.EPERM)
	tests := []struct {
		name    string
		syscall string
		args    [6]uint64
		want    uint32
	}{
		{"allowed", "read", [6]uint64{}, retAllow},
		{"not listed", "syslog", [6]uint64{}, eperm},
		{"includes.caps not applied", "mount", [6]uint64{}, eperm},
		{"includes.caps not applied, ptrace caps", "kcmp", [6]uint64{}, eperm},
		{"includes.minKernel applied", "ptrace", [6]uint64{}, retAllow},
		{"includes.arches applied", "arch_prctl", [6]uint64{}, retAllow},
		{"personality allowed value", "personality", [6]uint64{0xffffffff}, retAllow},
		{"personality other value", "personality", [6]uint64{0x40000}, eperm},
		{"excludes.caps applied: clone plain", "clone", [6]uint64{sigchld}, retAllow},
		{"excludes.caps applied: clone newuser", "clone", [6]uint64{unix.CLONE_NEWUSER}, eperm},
		{"errnoRet", "clone3", [6]uint64{}, retErrno(unix.ENOSYS)},
		{"socket inet", "socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, retAllow},
		{"socket vsock", "socket", [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, eperm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runVM(t, vm, nr(t, tt.syscall), nativeAudit, tt.args))
		})
	}
	// The declared sub-architectures are honoured: i386 read (3) and
	// chown32 (212), x32 read; aarch64 is not admitted.
	assert.Equal(t, retAllow, runVM(t, vm, 3, unix.AUDIT_ARCH_I386, [6]uint64{}), "i386 read")
	assert.Equal(t, retAllow, runVM(t, vm, 212, unix.AUDIT_ARCH_I386, [6]uint64{}), "i386 chown32")
	assert.Equal(t, eperm, runVM(t, vm, 103, unix.AUDIT_ARCH_I386, [6]uint64{}), "i386 syslog")
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "read")|x32SyscallBit, nativeAudit, [6]uint64{}), "x32 read")
	assert.Equal(t, retKill, runVM(t, vm, 63, unix.AUDIT_ARCH_AARCH64, [6]uint64{}), "aarch64")
}

func TestParseDocker(t *testing.T) {
	needAMD64(t)
	tests := []struct {
		name       string
		src        string
		wantErr    string
		nativeOnly bool
		warning    string
	}{
		{name: "no arches is native only", src: `{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`,
			nativeOnly: true},
		{name: "architectures list", src: `{"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[]}`},
		{name: "arch map without sub-arches", src: `{"defaultAction":"SCMP_ACT_KILL","archMap":[{"architecture":"SCMP_ARCH_X86_64"}],"syscalls":[]}`,
			nativeOnly: true},
		{name: "trace", src: `{"defaultAction":"SCMP_ACT_TRACE","syscalls":[]}`, nativeOnly: true,
			warning: "SCMP_ACT_TRACE imported as errno:ENOSYS (no tracer)"},
		{name: "shadowed", src: `{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_ALLOW"},{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":21522,"op":"SCMP_CMP_EQ"}]}]}`,
			nativeOnly: true, warning: "ioctl: errno:EPERM rule shadowed by an unconditional allow"},
		{name: "bad action", src: `{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_MAYBE"}]}`,
			wantErr: `syscalls[0] (read): action: unknown action "SCMP_ACT_MAYBE"`},
		{name: "bad op", src: `{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"op":"SCMP_CMP_LIKE"}]}]}`,
			wantErr: `args[0]: unknown op "SCMP_CMP_LIKE"`},
		{name: "bad errnoRet", src: `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000,"syscalls":[]}`,
			wantErr: "defaultAction: errnoRet 70000 out of range"},
		{name: "bad index", src: `{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"op":"SCMP_CMP_EQ"}]}]}`,
			wantErr: "rule 1 (read): args: index 7 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.json", []byte(tt.src))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.nativeOnly, p.NativeOnly)
			if tt.warning != "" {
				assert.Contains(t, p.Warnings, tt.warning)
			}
			_, err = p.Compile(CompileOptions{})
			assert.NoError(t, err)
		})
	}
}

func TestLoadDetectsFormat(t *testing.T) {
	dir := t.TempDir()
	// JSON without the Docker keys is not a Docker profile, and not TOML.
	path := filepath.Join(dir, "x.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"syscalls": []}`), 0o644))
	_, err := Load(path)
	assert.ErrorContains(t, err, path+":1:")

	_, err = Load(filepath.Join(dir, "missing.toml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
