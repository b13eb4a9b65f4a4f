package profiles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// searchDirs points the search path at fresh temporary directories and
// returns the user's and the system's profile directories.
func searchDirs(t *testing.T) (user, system string) {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	user = filepath.Join(cfg, "jail", "profiles")
	require.NoError(t, os.MkdirAll(user, 0o755))
	system = t.TempDir()
	old := systemDir
	systemDir = system
	t.Cleanup(func() { systemDir = old })
	return user, system
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}

func TestFindSearchDirs(t *testing.T) {
	user, system := searchDirs(t)
	assert.Equal(t, []string{user, system}, SearchDirs())

	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "relative/is/ignored")
	assert.Equal(t, []string{filepath.Join(home, ".config", "jail", "profiles"), system}, SearchDirs())
}

func TestFindOrder(t *testing.T) {
	user, system := searchDirs(t)

	p, src, err := Find("python3")
	require.NoError(t, err)
	assert.Equal(t, BuiltIn, src)
	assert.Equal(t, "python3", p.Name)

	writeFile(t, filepath.Join(system, "python3.toml"), `description = "system python"`)
	p, src, err = Find("python3")
	require.NoError(t, err)
	assert.Equal(t, Source(filepath.Join(system, "python3.toml")), src)
	assert.Equal(t, "system python", p.Description)

	writeFile(t, filepath.Join(user, "python3.toml"), `description = "my python"`)
	p, src, err = Find("python3")
	require.NoError(t, err)
	assert.Equal(t, Source(filepath.Join(user, "python3.toml")), src)
	assert.Equal(t, "my python", p.Description)

	// A broken profile earlier in the path is an error, not a fallback:
	// silently running with another profile would surprise.
	writeFile(t, filepath.Join(user, "cpp.toml"), "mem = 1\n")
	_, _, err = Find("cpp")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(user, "cpp.toml")+":1: mem: unknown key")
}

func TestFindFile(t *testing.T) {
	searchDirs(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "judge.toml")
	writeFile(t, file, "description = \"j\"\nenv_file = \"vars.env\"\nseccomp = \"policy.json\"\n")

	p, src, err := Find(file)
	require.NoError(t, err)
	assert.Equal(t, Source(file), src)
	assert.Equal(t, "judge", p.Name)
	assert.Equal(t, filepath.Join(dir, "vars.env"), p.EnvFile, "relative to the profile's directory")
	assert.Equal(t, filepath.Join(dir, "policy.json"), p.Seccomp)

	_, _, err = Find(filepath.Join(dir, "missing.toml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reading profile: open "+filepath.Join(dir, "missing.toml"))

	// A name with .toml is a file (relative to the working directory),
	// never searched for.
	t.Chdir(dir)
	p, src, err = Find("judge.toml")
	require.NoError(t, err)
	assert.Equal(t, Source("judge.toml"), src)
	assert.Equal(t, "j", p.Description)
}

func TestFindNotFound(t *testing.T) {
	user, system := searchDirs(t)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "unknown name lists where it looked", in: "pyhton",
			wantErr: `profile "pyhton" not found: looked in ` + filepath.Join(user, "pyhton.toml") + ", " +
				filepath.Join(system, "pyhton.toml") + " and the built-ins (c, cpp, default, go, java, node, python3, strict)"},
		{name: "empty", in: "", wantErr: `profile "": give a profile name`},
		{name: "hidden", in: ".x", wantErr: `profile ".x": give a profile name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Find(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestList(t *testing.T) {
	user, system := searchDirs(t)
	writeFile(t, filepath.Join(user, "python3.toml"), `description = "my python"`)
	writeFile(t, filepath.Join(user, "broken.toml"), "[root]\nnetwork = \"wifi\"\n")
	writeFile(t, filepath.Join(system, "python3.toml"), `description = "system python"`)
	writeFile(t, filepath.Join(system, "judge.toml"), `description = "site judge"`)
	writeFile(t, filepath.Join(system, "notes.txt"), "not a profile")

	got := List()
	byName := map[string]Entry{}
	var names []string
	for _, e := range got {
		byName[e.Name] = e
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"broken", "c", "cpp", "default", "go", "java", "judge", "node", "python3", "strict"}, names)
	assert.Equal(t, Entry{Name: "python3", Source: Source(filepath.Join(user, "python3.toml")), Description: "my python"}, byName["python3"],
		"the user's file shadows the system's and the built-in")
	assert.Equal(t, Entry{Name: "judge", Source: Source(filepath.Join(system, "judge.toml")), Description: "site judge"}, byName["judge"])
	assert.Equal(t, BuiltIn, byName["cpp"].Source)
	assert.NotEmpty(t, byName["cpp"].Description)
	require.Error(t, byName["broken"].Err)
	assert.Contains(t, byName["broken"].Err.Error(), "broken.toml:2: root.network")
}
