package field

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRender(t *testing.T) {
	err := errors.Join(
		Under("limits", Errorf("extra_time", "%v: only means something with {time}; add {time}", "1s")),
		errors.New("not a field error"),
		Errorf("argv", "no program given"),
	)
	assert.Equal(t, "limits.extra_time: 1s: only means something with limits.time; add limits.time\nnot a field error\nargv: no program given", err.Error())

	cli := map[string]string{"limits.extra_time": "--extra-time", "limits.time": "--time", "argv": ""}
	got := Render(err, func(e *Error) string { return Spell(e, func(f string) string { return cli[f] }) })
	assert.Equal(t, "--extra-time 1s: only means something with --time; add --time\nnot a field error\nno program given", got.Error())

	var fields []string
	_ = Map(err, func(e error) error {
		if fe, ok := e.(*Error); ok {
			fields = append(fields, fe.Field)
		}
		return nil
	})
	assert.Equal(t, "limits.extra_time argv", strings.Join(fields, " "))
	assert.NoError(t, Render(nil, nil))
}

func TestWrap(t *testing.T) {
	cause := os.ErrNotExist
	e := Wrap("env_file", "/x.env", cause)
	assert.Equal(t, "env_file: /x.env: file does not exist", e.Error())
	assert.Equal(t, "seccomp: file does not exist", Wrap("seccomp", "", cause).Error())
	got := Render(errors.Join(e), func(e *Error) string { return Spell(e, func(string) string { return "--env-file" }) })
	assert.Equal(t, "--env-file /x.env: file does not exist", got.Error())
	assert.ErrorIs(t, got, os.ErrNotExist)
}

func TestWithin(t *testing.T) {
	err := Within("profile cpp", Wrap("env_file", "/x.env", os.ErrNotExist))
	assert.Equal(t, "profile cpp: env_file: /x.env: file does not exist", err.Error())
	got := Render(err, func(e *Error) string { return Spell(e, func(string) string { return "--env-file" }) })
	assert.Equal(t, "profile cpp: --env-file /x.env: file does not exist", got.Error())
	assert.ErrorIs(t, got, os.ErrNotExist)
}
