package limits

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every Spec field has exactly one descriptor, and the descriptor's
// accessor reaches the field it names: a new limit cannot be forgotten by
// the flags, the profile decoder, the printed config or Merge, which all
// walk Fields.
func TestFieldsCoverSpec(t *testing.T) {
	st := reflect.TypeOf(Spec{})
	count := map[string]int{}
	names, flags := map[string]bool{}, map[string]bool{}
	for _, f := range Fields {
		count[f.Go]++
		assert.False(t, names[f.Name], "name %s twice", f.Name)
		assert.False(t, flags[f.Flag], "flag --%s twice", f.Flag)
		names[f.Name], flags[f.Flag] = true, true
		sf, ok := st.FieldByName(f.Go)
		require.True(t, ok, "descriptor %s names Spec.%s, which does not exist", f.Name, f.Go)

		var s Spec
		p := reflect.ValueOf(s.limit(f.Go))
		require.Equal(t, reflect.Pointer, p.Kind(), "descriptor %s", f.Name)
		assert.Equal(t, reflect.ValueOf(&s).Elem().FieldByIndex(sf.Index).Addr().Pointer(), p.Pointer(),
			"descriptor %s sets Spec.%s", f.Name, f.Go)
		assert.NotEmpty(t, f.Help, "descriptor %s has no help", f.Name)
	}
	for i := range st.NumField() {
		assert.Equal(t, 1, count[st.Field(i).Name], "Spec.%s needs exactly one descriptor in Fields", st.Field(i).Name)
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	s := Spec{Memory: 100 << 20, CPUPercent: 12.5, CPUs: "0,2-3", Pids: 64, CPUTime: 1500 * time.Millisecond,
		ExtraTime: 90 * time.Minute, Wall: time.Minute, Output: 1<<20 + 1, FileSize: 3 << 30, OpenFiles: 16}
	var back Spec
	for _, f := range Fields {
		require.True(t, f.IsSet(s), f.Name)
		require.NoError(t, f.Set(&back, f.Format(s)), "%s = %q", f.Name, f.Format(s))
	}
	assert.Equal(t, s, back)
	for _, f := range Fields {
		assert.False(t, f.IsSet(Spec{}), f.Name)
	}
}

func TestMerge(t *testing.T) {
	base := Spec{Memory: 1, Pids: 2, CPUs: "0", Wall: time.Second}
	got := base.Merge(Spec{Memory: 10, CPUTime: time.Second})
	assert.Equal(t, Spec{Memory: 10, Pids: 2, CPUs: "0", Wall: time.Second, CPUTime: time.Second}, got)
}
