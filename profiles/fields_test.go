package profiles

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"jail/limits"
)

// The TOML schema of [limits] is the limits' descriptor table plus
// strict: one key per limit, of the value type for its kind.
func TestRawLimitsMatchFields(t *testing.T) {
	kindType := map[limits.Kind]reflect.Type{
		limits.Size: reflect.TypeOf(sizeVal(0)), limits.Duration: reflect.TypeOf(durationVal(0)),
		limits.Percent: reflect.TypeOf(percentVal(0)), limits.Count: reflect.TypeOf(countVal(0)),
		limits.CPUList: reflect.TypeOf(""),
	}
	rt := reflect.TypeOf(rawLimits{})
	var keys []string
	for i := range rt.NumField() {
		keys = append(keys, rt.Field(i).Tag.Get("toml"))
	}
	var want []string
	for _, f := range limits.Fields {
		want = append(want, f.Name)
		sf, ok := fieldByTag(rt, f.Name)
		if assert.True(t, ok, "[limits] has no key %s", f.Name) {
			assert.Equal(t, kindType[f.Kind], sf.Type, "[limits] %s is a %s", f.Name, f.Kind)
		}
	}
	assert.Equal(t, append(want, "strict"), keys, "[limits] keys, in the descriptors' order")
}
