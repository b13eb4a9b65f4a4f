package seccomp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseAction(t *testing.T) {
	tests := []struct {
		in      string
		want    Action
		wantErr string
	}{
		{in: "allow", want: ActAllow},
		{in: "kill", want: ActKill},
		{in: "log", want: ActLog},
		{in: "notify", want: Action{Kind: Notify}},
		{in: "errno", want: ActErrno(unix.EPERM)},
		{in: "errno:ENOSYS", want: ActErrno(unix.ENOSYS)},
		{in: "errno:enosys", want: ActErrno(unix.ENOSYS)},
		{in: "errno:EWOULDBLOCK", want: ActErrno(unix.EAGAIN)},
		{in: "errno:38", want: ActErrno(unix.ENOSYS)},
		{in: "errno:4095", want: Action{Kind: Errno, Errno: 4095}},
		{in: "errno:0", wantErr: "out of range"},
		{in: "errno:4096", wantErr: "out of range"},
		{in: "errno:EBOGUS", wantErr: `unknown errno "EBOGUS"`},
		{in: "kill:9", wantErr: "only errno takes a value"},
		{in: "trap", wantErr: "want allow, kill"},
		{in: "", wantErr: "want allow, kill"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAction(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseAction(got.String())
			require.NoError(t, err, "String() must round-trip")
			assert.Equal(t, got, again)
		})
	}
}

func TestParseOp(t *testing.T) {
	for _, name := range []string{"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"} {
		op, err := ParseOp(name)
		require.NoError(t, err)
		assert.Equal(t, name, op.String())
	}
	_, err := ParseOp("EQ")
	assert.ErrorContains(t, err, `unknown op "EQ"`)
}

func TestValidate(t *testing.T) {
	allow := func(names ...string) Rule { return Rule{Names: names, Action: ActAllow} }
	tests := []struct {
		name    string
		policy  Policy
		wantErr string
	}{
		{name: "ok", policy: Policy{DefaultAction: ActKill, Rules: []Rule{allow("read", "write")}}},
		{name: "ok conditional", policy: Policy{DefaultAction: ActKill, Rules: []Rule{
			{Names: []string{"personality"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpEQ, Value: 0}}},
			{Names: []string{"personality"}, Action: ActErrno(unix.EPERM), Args: []ArgCond{{Index: 0, Op: OpEQ, Value: 0x40000}}},
		}}},
		{name: "default errno zero", policy: Policy{DefaultAction: Action{Kind: Errno}},
			wantErr: "default action: errno 0 out of range"},
		{name: "default bad kind", policy: Policy{DefaultAction: Action{Kind: 9}},
			wantErr: "default action: unknown action kind 9"},
		{name: "errno too big", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"read"}, Action: Action{Kind: Errno, Errno: 5000}}}},
			wantErr: "rule 1 (read): action: errno 5000 out of range 1-4095"},
		{name: "allow with errno", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"read"}, Action: Action{Kind: Allow, Errno: 1}}}},
			wantErr: "rule 1 (read): action: action allow has an errno"},
		{name: "unknown syscall", policy: Policy{DefaultAction: ActKill, Rules: []Rule{allow("read"), allow("write", "frobnicate")}},
			wantErr: `rule 2 (write,frobnicate): names: unknown syscall "frobnicate"`},
		{name: "pseudo syscall of another ABI", policy: Policy{DefaultAction: ActKill, NativeOnly: true, Rules: []Rule{allow("chown32")}},
			wantErr: `unknown syscall "chown32"`},
		{name: "no names", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Action: ActAllow}}},
			wantErr: "rule 1 (): names: empty"},
		{name: "arg index", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"ioctl"}, Action: ActAllow, Args: []ArgCond{{Index: 6}}}}},
			wantErr: "rule 1 (ioctl): args: index 6 out of range 0-5"},
		{name: "arg op", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"ioctl"}, Action: ActAllow, Args: []ArgCond{{Op: 42}}}}},
			wantErr: "rule 1 (ioctl): args: unknown op 42"},
		{name: "mask without masked_eq", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"ioctl"}, Action: ActAllow, Args: []ArgCond{{Op: OpEQ, Mask: 1}}}}},
			wantErr: "mask is only for masked_eq"},
		{name: "same arg twice", policy: Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"ioctl"}, Action: ActAllow,
			Args: []ArgCond{{Index: 1, Op: OpGT, Value: 1}, {Index: 1, Op: OpLT, Value: 9}}}}},
			wantErr: "two conditions on arg1"},
		{name: "unconditional conflict", policy: Policy{DefaultAction: ActKill, Rules: []Rule{allow("ptrace"), {Names: []string{"ptrace"}, Action: ActErrno(unix.EPERM)}}},
			wantErr: "rule 2 (ptrace): action: errno:EPERM for ptrace conflicts with rule 1 (ptrace)'s allow"},
		{name: "shadowed conditional", policy: Policy{DefaultAction: ActKill, Rules: []Rule{
			{Names: []string{"ioctl"}, Action: ActKill, Args: []ArgCond{{Index: 1, Op: OpEQ, Value: unix.TIOCSTI}}},
			allow("ioctl"),
		}}, wantErr: "rule 1 (ioctl): args: conditional kill for ioctl is shadowed by rule 2 (ioctl)'s unconditional allow"},
		{name: "native only with arches", policy: Policy{DefaultAction: ActKill, NativeOnly: true, Arches: []string{"x86"}},
			wantErr: "a native-only policy admits no other ABI"},
		{name: "unknown arch", policy: Policy{DefaultAction: ActKill, Arches: []string{"vax"}},
			wantErr: `unknown architecture: "vax"`},
		{name: "named policy", policy: Policy{Name: "judge", DefaultAction: Action{Kind: Errno}},
			wantErr: "seccomp policy judge: default action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestWithReplacesRulesByName(t *testing.T) {
	base := &Policy{DefaultAction: ActKill, Rules: []Rule{
		{Names: []string{"read", "ptrace"}, Action: ActAllow},
		{Names: []string{"ptrace"}, Action: ActKill},
	}}
	got := base.With(Rule{Names: []string{"ptrace"}, Action: ActErrno(unix.EPERM)})
	require.NoError(t, got.Validate())
	assert.Equal(t, []Rule{
		{Names: []string{"read"}, Action: ActAllow},
		{Names: []string{"ptrace"}, Action: ActErrno(unix.EPERM)},
	}, got.Rules)
	assert.Equal(t, []string{"read", "ptrace"}, base.Rules[0].Names, "With must not change its receiver")
}
