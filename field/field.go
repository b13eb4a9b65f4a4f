// Package field carries validation errors as values that name the field
// at fault, so that each face (the command line, profile files, a JSON
// service) can say which setting is wrong in its own spelling: the CLI
// writes "--mem", a profile "limits.mem" at its line.
//
// A field is a dotted path in the profile schema's names ("limits.mem",
// "root.workdir", "binds[2]"). A message may refer to another field as
// {path}, which the face renders too ("only means something with
// {limits.time}").
package field

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
)

// Error is one invalid setting: Field is where, Msg what is wrong and how
// to fix it, without the field's name.
type Error struct {
	Field string
	Msg   string
	// Err is the cause, when there is one (a file that cannot be read);
	// it is shown after Msg and errors.Is sees it.
	Err error
}

// Wrap returns an Error for field caused by err; what names the value
// at fault ("" when the field says enough).
func Wrap(field, what string, err error) *Error {
	return &Error{Field: field, Msg: what, Err: err}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error for field with a formatted message.
func Errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Error spells the field by its path, the face-neutral form:
// "limits.mem: -1: must be positive".
func (e *Error) Error() string {
	return e.Field + ": " + e.Text(func(f string) string { return f })
}

var refRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{([a-z_]+(?:\.[a-z_]+)*(?:\[[0-9]+\])?)\}`) })

// Text is Msg with each {field} reference spelled by name, followed by
// the cause.
func (e *Error) Text(name func(field string) string) string {
	text := refRE().ReplaceAllStringFunc(e.Msg, func(ref string) string {
		return name(ref[1 : len(ref)-1])
	})
	switch {
	case e.Err == nil:
		return text
	case text == "":
		return e.Err.Error()
	}
	return text + ": " + e.Err.Error()
}

// Refs spells every {field} reference in a text that is not an error (a
// warning) by name, as Text does in an error's message.
func Refs(text string, name func(field string) string) string {
	return refRE().ReplaceAllStringFunc(text, func(ref string) string {
		return name(ref[1 : len(ref)-1])
	})
}

// Spell renders e as "NAME MSG" with the field and every reference
// spelled by name; a field whose name is "" is left out, for messages
// that read on their own ("no program given: ...").
func Spell(e *Error, name func(field string) string) string {
	n, text := name(e.Field), e.Text(name)
	switch {
	case n == "":
		return text
	case e.Msg == "":
		return n + ": " + text
	}
	return n + " " + text
}

// Map applies fn to every error joined in err, in order, and joins what
// fn returns (nil drops an error).
func Map(err error, fn func(error) error) error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e := fn(err); e != nil {
			out = append(out, e)
		}
	}
	if err != nil {
		walk(err)
	}
	return errors.Join(out...)
}

// Render rewrites every field error in err with render, keeping the other
// errors and the order.
func Render(err error, render func(*Error) string) error {
	return Map(err, func(e error) error {
		switch e := e.(type) {
		case *Error:
			return rendered{render(e), e}
		case *within:
			return &within{e.what, Render(e.err, render)}
		}
		return e
	})
}

// Within puts err's field errors in a context that is not a field ("profile
// cpp": a setting of that profile), rendered as "WHAT: ERR" with the field
// errors still spelled by the face.
func Within(what string, err error) error {
	if err == nil {
		return nil
	}
	return &within{what, err}
}

type within struct {
	what string
	err  error
}

func (w *within) Error() string { return w.what + ": " + w.err.Error() }
func (w *within) Unwrap() error { return w.err }

// rendered is a field error in a face's words; errors.Is and errors.As
// still reach the Error and its cause.
type rendered struct {
	text string
	err  *Error
}

func (r rendered) Error() string { return r.text }
func (r rendered) Unwrap() error { return r.err }

// Under moves every field error's path, and its references, under prefix
// ("mem" under "limits" is "limits.mem"), so that a leaf package names its
// fields relative to itself and the composite says where it sits.
func Under(prefix string, err error) error {
	return Map(err, func(e error) error {
		if fe, ok := e.(*Error); ok {
			return &Error{Field: prefix + "." + fe.Field, Msg: refRE().ReplaceAllString(fe.Msg, "{"+prefix+".$1}"), Err: fe.Err}
		}
		return e
	})
}
