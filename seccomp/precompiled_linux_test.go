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
