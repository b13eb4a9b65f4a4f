package seccomp

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadTOML feeds arbitrary bytes to the policy decoder (TOML and
// Docker JSON): it may reject them, but must not panic, and whatever it
// accepts must validate.
func FuzzLoadTOML(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.toml")
	jsons, _ := filepath.Glob("testdata/*.json")
	for _, s := range append(seeds, jsons...) {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[[rule]]\nnames = [\"read\"]\naction = \"errno:38\"\nargs = [{ index = 5, op = \"masked_eq\", mask = -1, value = 0 }]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.toml", data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy that does not validate: %v", err)
		}
		_ = p.With(Rule{Names: []string{"read"}, Action: ActAllow})
	})
}
