package seccomp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrecompiledAreCurrent fails when a built-in policy or the compiler
// changed and the embedded programs were not regenerated: jail would then
// compile live on every run (correct, but 2 ms slower).
func TestPrecompiledAreCurrent(t *testing.T) {
	for _, p := range Builtins() {
		for _, opts := range BuiltinOptions {
			fp := p.Fingerprint(opts)
			embedded, ok := precompiled(fp)
			require.True(t, ok, "%s (%s): no embedded program %s; run go generate ./seccomp", p.Name, opts.KillAs, PrecompiledPath(fp))
			fresh := opts
			fresh.Fresh = true
			live, err := p.Compile(fresh)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(live.Encode(), embedded.Encode()), "%s (%s): embedded program differs from a fresh compile", p.Name, opts.KillAs)
		}
	}
}

// TestBuiltinHandles checks that what a run loads for a built-in by name
// is exactly a fresh compile of the built-in policy, and that the handle
// behaves as the full policy everywhere else.
func TestBuiltinHandles(t *testing.T) {
	for _, full := range Builtins() {
		h, ok := Builtin(full.Name)
		require.True(t, ok, full.Name)
		assert.Empty(t, h.Rules, "a handle does not build the policy")
		for _, opts := range BuiltinOptions {
			_, indexed := precompiledBuiltin(full.Name, opts)
			assert.True(t, indexed, "%s (%s) is missing from %s; run go generate ./seccomp", full.Name, opts.KillAs, BuiltinIndexPath)
			got, err := h.Compile(opts)
			require.NoError(t, err)
			fresh := opts
			fresh.Fresh = true
			want, err := full.Compile(fresh)
			require.NoError(t, err)
			assert.Equal(t, want.Encode(), got.Encode(), "%s (%s)", full.Name, opts.KillAs)
			assert.Equal(t, full.Fingerprint(opts), h.Fingerprint(opts))
		}
		require.NoError(t, h.Validate())
		assert.Equal(t, full.With(Rule{Names: []string{"ptrace"}, Action: ActAllow}).Rules,
			h.With(Rule{Names: []string{"ptrace"}, Action: ActAllow}).Rules)
	}
	_, ok := Builtin("nonexistent")
	assert.False(t, ok)
}

// TestPrecompiledOnlyOnExactMatch changes a built-in policy slightly and
// checks the embedded program is not used for it.
func TestPrecompiledOnlyOnExactMatch(t *testing.T) {
	p := Default().With(Rule{Names: []string{"ptrace"}, Action: ActAllow})
	_, ok := precompiled(p.Fingerprint(CompileOptions{KillAs: "notify"}))
	assert.False(t, ok)
	prog, err := p.Compile(CompileOptions{KillAs: "notify"})
	require.NoError(t, err)
	embedded, _ := precompiled(Default().Fingerprint(CompileOptions{KillAs: "notify"}))
	assert.NotEqual(t, embedded.Raw, prog.Raw)
}
