package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/profiles"
)

// runProfile runs `jail profile ARGS...` with a private profile search
// path and returns its stdout, stderr and error.
func runProfile(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newProfileCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// userProfiles gives the test its own $XDG_CONFIG_HOME and returns the
// profile directory in it.
func userProfiles(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	dir := filepath.Join(cfg, "jail", "profiles")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func TestProfileList(t *testing.T) {
	dir := userProfiles(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "python3.toml"), []byte(`description = "my python"`), 0o644))
	out, _, err := runProfile(t, "list")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^NAME +SOURCE +DESCRIPTION$`, out)
	assert.Regexp(t, `(?m)^cpp +built-in +C\+\+17: g\+\+`, out)
	assert.Regexp(t, `(?m)^python3 +`+regexp.QuoteMeta(filepath.Join(dir, "python3.toml"))+` +my python$`, out)
	assert.Regexp(t, `(?m)^strict +built-in +judge:`, out)
}

func TestProfileShow(t *testing.T) {
	userProfiles(t)
	out, _, err := runProfile(t, "show", "strict")
	require.NoError(t, err)
	assert.Contains(t, out, "# from built-in\n")
	assert.Contains(t, out, "seccomp = \"strict\"\n")
	assert.Contains(t, out, "mem = \"256M\"\n")
	assert.Contains(t, out, "strict = true\n")
	// What show prints is a profile itself.
	p, err := profiles.Decode("shown.toml", []byte(out))
	require.NoError(t, err)
	want, err := profiles.Builtin("strict")
	require.NoError(t, err)
	p.Name = want.Name
	assert.Equal(t, want, p)

	_, _, err = runProfile(t, "show", "nosuch")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `profile "nosuch" not found`)

	_, _, err = runProfile(t, "show")
	require.Error(t, err, "NAME is required")
}

func TestProfileShowMissingToolchain(t *testing.T) {
	dir := userProfiles(t)
	file := filepath.Join(dir, "ghost.toml")
	require.NoError(t, os.WriteFile(file, []byte("requires = [\"no-such-compiler-xyz\"]\n"), 0o644))
	out, _, err := runProfile(t, "show", "ghost")
	require.NoError(t, err, "a missing toolchain is a note, not a failure")
	assert.Contains(t, out, "# note: missing in the sandbox root on this host: no-such-compiler-xyz\n")
	assert.Contains(t, out, "#   profile ghost: no-such-compiler-xyz not found in the sandbox root")
}

func TestProfileCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	require.NoError(t, os.WriteFile(good, []byte("description = \"ok\"\n[limits]\nwall = \"5s\"\n"), 0o644))
	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[limits]\nwall = \"soon\"\n"), 0o644))
	typo := filepath.Join(dir, "typo.toml")
	require.NoError(t, os.WriteFile(typo, []byte("[root]\nnet = \"host\"\nworkdir = \"rel\"\n"), 0o644))

	tests := []struct {
		name       string
		file       string
		wantOut    string
		wantStderr []string
	}{
		{name: "valid", file: good, wantOut: "wall = \"5s\"\n"},
		{name: "bad value", file: bad, wantStderr: []string{bad + `:2: limits.wall: "soon" is not a duration`}},
		{name: "unknown key and bad workdir", file: typo, wantStderr: []string{
			typo + ":2: root.net: unknown key", typo + `:3: root.workdir: "rel": give an absolute path`}},
		{name: "missing file", file: filepath.Join(dir, "none.toml"), wantStderr: []string{"reading profile: open " + filepath.Join(dir, "none.toml")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runProfile(t, "check", tt.file)
			if tt.wantStderr == nil {
				require.NoError(t, err)
				assert.Contains(t, out, tt.wantOut)
				assert.Empty(t, stderr)
				return
			}
			assert.Equal(t, exitError{1}, err, "an invalid file exits 1")
			assert.Empty(t, out)
			for _, want := range tt.wantStderr {
				assert.Contains(t, stderr, want)
			}
		})
	}
}

func TestProfileRegistered(t *testing.T) {
	// execute() is the real entry point; a missing AddCommand would make
	// `jail profile` an unknown command (status 125).
	assert.Equal(t, 0, execute([]string{"profile", "check", filepath.Join("..", "..", "profiles", "builtin", "strict.toml")}))
}

// A profile is layered under the flags the user typed: the typed ones
// win, the others take the profile's value (or the step's limits).
func TestProfileUnderTypedFlags(t *testing.T) {
	p, err := profiles.Builtin("strict")
	require.NoError(t, err)
	cmd := newRunCommand()
	fl := cmd.Flags()
	require.NoError(t, fl.Parse([]string{"--mem", "64M", "--hostname", "box", "--strict=false"}))
	f := defaultFlags(t)
	f.lim["mem"], f.hostname, f.profile, f.fl = "64M", "box", p, fl
	s, err := f.spec([]string{"/bin/true"}, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(64<<20), s.Limits.Memory, "a typed limit wins")
	assert.Equal(t, int64(64), s.Limits.Pids, "an untyped limit is the profile's")
	assert.Equal(t, "box", s.Hostname)
	assert.False(t, s.Strict, "a typed --strict=false wins over the profile's strict")
	require.NotNil(t, s.Seccomp)
	assert.Equal(t, "strict", s.Seccomp.Name)

	c, err := profiles.Builtin("c")
	require.NoError(t, err)
	f.profile, f.lim["mem"] = c, ""
	fl = newRunCommand().Flags()
	f.fl = fl
	for step, mem := range map[*profiles.Step]int64{c.Compile: 512 << 20, c.Run: 256 << 20} {
		s, err := f.spec([]string{"/bin/true"}, step)
		require.NoError(t, err)
		assert.Equal(t, mem, s.Limits.Memory, "each step gets its own limits")
	}
}
