package profiles

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzDecode checks that no input makes Decode panic, and that whatever
// decodes prints (Effective) to TOML that decodes back to the same Profile.
func FuzzDecode(f *testing.F) {
	for _, name := range BuiltinNames() {
		data, err := builtinFS.ReadFile("builtin/" + name + ".toml")
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode("fuzz.toml", data)
		if err != nil {
			return
		}
		out := p.Effective()
		back, err := Decode("fuzz.toml", []byte(out))
		require.NoError(t, err, "effective output does not decode:\n%s", out)
		assert.Equal(t, p, back)
	})
}
