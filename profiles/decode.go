package profiles

import (
	"errors"
	"fmt"
	"math"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"jail/field"
	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
)

// The raw* types mirror the TOML schema one to one; their tags are the
// only keys a profile may use. Limit values are parsed while decoding so
// that a bad one is reported at its line by the toml package itself.
type rawProfile struct {
	Description string            `toml:"description"`
	SourceName  string            `toml:"source_name"`
	Requires    []string          `toml:"requires"`
	Seccomp     string            `toml:"seccomp"`
	EnvFile     string            `toml:"env_file"`
	Root        rawRoot           `toml:"root"`
	Mounts      []rawMount        `toml:"mount"`
	Env         map[string]string `toml:"env"`
	Limits      rawLimits         `toml:"limits"`
	Compile     *rawStep          `toml:"compile"`
	Run         *rawStep          `toml:"run"`
}

type rawRoot struct {
	RootFS   string  `toml:"rootfs"`
	Image    string  `toml:"image"`
	Disk     sizeVal `toml:"disk"`
	Hostname string  `toml:"hostname"`
	Network  string  `toml:"network"`
	UID      *idVal  `toml:"uid"`
	GID      *idVal  `toml:"gid"`
	Workdir  string  `toml:"workdir"`
}

type rawMount struct {
	Source   string `toml:"source"`
	Target   string `toml:"target"`
	Writable bool   `toml:"writable"`
	Optional bool   `toml:"optional"`
}

// rawLimits has one key per limits.Fields entry, of the value type for
// its kind, plus strict.
type rawLimits struct {
	Mem       sizeVal     `toml:"mem"`
	CPU       percentVal  `toml:"cpu"`
	CPUs      string      `toml:"cpus"`
	Pids      countVal    `toml:"pids"`
	Time      durationVal `toml:"time"`
	ExtraTime durationVal `toml:"extra_time"`
	Wall      durationVal `toml:"wall"`
	Output    sizeVal     `toml:"output"`
	FSize     sizeVal     `toml:"fsize"`
	NoFile    countVal    `toml:"nofile"`
	Strict    bool        `toml:"strict"`
}

type rawStep struct {
	Command []string  `toml:"command"`
	Limits  rawLimits `toml:"limits"`
}

// The value types accept a string ("100M") or, since users write them
// that way, a bare TOML number; "" means not set.
type (
	sizeVal     int64
	countVal    int64
	durationVal time.Duration
	percentVal  float64
	idVal       uint32
)

func scalar(data any) (string, error) {
	switch v := data.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("a %T cannot be a limit: write a string such as \"100M\" or \"2s\", or a number", data)
}

func (v *sizeVal) UnmarshalTOML(data any) error {
	s, err := scalar(data)
	if err != nil || s == "" {
		return err
	}
	n, err := limits.ParseSize(s)
	*v = sizeVal(n)
	return err
}

func (v *countVal) UnmarshalTOML(data any) error {
	s, err := scalar(data)
	if err != nil || s == "" {
		return err
	}
	n, err := limits.ParseCount(s)
	*v = countVal(n)
	return err
}

func (v *durationVal) UnmarshalTOML(data any) error {
	s, err := scalar(data)
	if err != nil || s == "" {
		return err
	}
	d, err := limits.ParseDuration(s)
	*v = durationVal(d)
	return err
}

func (v *percentVal) UnmarshalTOML(data any) error {
	s, err := scalar(data)
	if err != nil || s == "" {
		return err
	}
	f, err := limits.ParsePercent(s)
	*v = percentVal(f)
	return err
}

func (v *idVal) UnmarshalTOML(data any) error {
	n, ok := data.(int64)
	if !ok {
		return fmt.Errorf("write a whole number such as 1000, not a %T", data)
	}
	// 2^32-1 is the kernel's invalid id (sandbox.Spec refuses it too).
	if n < 0 || n >= math.MaxUint32 {
		return fmt.Errorf("%d is not a user or group id: write a number from 0 to 4294967294", n)
	}
	*v = idVal(n)
	return nil
}

// Decode reads a profile. name is the file name used in messages (and,
// without directory and .toml, the profile's Name). Every problem is
// reported, each as "name:line: key: what is wrong and how to fix it".
func Decode(name string, data []byte) (*Profile, error) {
	var raw rawProfile
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, decodeError(name, md, err)
	}
	d := &decoder{name: name, data: data, md: md}
	d.unknownKeys()
	p := d.profile(&raw)
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// mdErrRE matches the toml package's plain errors from decoding (type
// mismatches), which carry the line only in the text.
var mdErrRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?s)^toml: (?:line (\d+) )?\(last key "(.*?)"\): (.*)$`)
})

func decodeError(name string, md toml.MetaData, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key := ""
		// With keys decoded, the error came from a value (ours or a type
		// mismatch) and the key is the one at fault; a syntax error's
		// "last key" would only mislead.
		if len(md.Keys()) > 0 {
			key = pe.LastKey
		}
		return errorf(name, pe.Position.Line, key, "%s", pe.Message)
	}
	if m := mdErrRE().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return errorf(name, line, m[2], "%s", typeMessage(m[3]))
	}
	return fmt.Errorf("%s: %w", name, err)
}

var (
	badTypeRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^incompatible types: TOML value has type (.*); destination has type (.*)$`)
	})
	notTableRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^type mismatch for .*: expected table but found (.*)$`)
	})
)

// typeMessage rewrites the toml package's type errors, which name Go
// types, in the words of the file's author.
func typeMessage(msg string) string {
	if m := badTypeRE().FindStringSubmatch(msg); m != nil {
		want := map[string]string{
			"string": "a string in quotes", "boolean": "true or false", "integer": "a whole number",
			"float": "a number", "slice": `an array such as ["a", "b"]`, "map": "a table of KEY = \"VALUE\"",
		}[m[2]]
		if want == "" {
			want = m[2]
		}
		return fmt.Sprintf("this is %s; write %s", tomlType(m[1]), want)
	}
	if m := notTableRE().FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("this is %s; write a table ([name], once)", tomlType(m[1]))
	}
	return msg
}

func tomlType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "int64":
		return "a whole number"
	case goType == "float64":
		return "a number"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]map"):
		return "an array of tables ([[name]])"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"):
		return "a table"
	case strings.Contains(goType, "time."):
		return "a date or time"
	}
	return goType
}

type decoder struct {
	name string
	data []byte
	md   toml.MetaData
	errs []error
}

func (d *decoder) fail(key string, format string, args ...any) {
	// A key the file leaves out (a step without command) is reported at
	// the nearest table the file has.
	line := 0
	for k := strings.Split(key, "."); line == 0 && len(k) > 0; k = k[:len(k)-1] {
		line = d.line(strings.Join(k, "."))
	}
	d.errs = append(d.errs, errorf(d.name, line, key, format, args...))
}

// unknownKeys reports each key the schema lacks, once per unknown table
// rather than once per key inside it.
func (d *decoder) unknownKeys() {
	und := d.md.Undecoded()
	seen := map[string]bool{}
	for _, k := range und {
		seen[k.String()] = true
	}
	type found struct {
		line int
		err  error
	}
	var out []found
	for _, k := range und {
		if len(k) > 1 && seen[k[:len(k)-1].String()] {
			continue
		}
		line := d.locate(k)
		where := "at the top level"
		if len(k) > 1 {
			where = "in [" + k[:len(k)-1].String() + "]"
		}
		err := errorf(d.name, line, k.String(), "unknown key; the keys allowed %s are: %s",
			where, strings.Join(knownKeys(k[:len(k)-1]), ", "))
		out = append(out, found{line, err})
	}
	slices.SortStableFunc(out, func(a, b found) int { return a.line - b.line })
	for _, f := range out {
		d.errs = append(d.errs, f.err)
	}
}

// knownKeys lists the schema's keys in the table at path.
func knownKeys(tablePath toml.Key) []string {
	t := reflect.TypeOf(rawProfile{})
	for _, part := range tablePath {
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); strings.EqualFold(f.Tag.Get("toml"), tag) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// line returns the line of a dotted key such as "limits.mem", 0 when
// unknown (the key is absent or could not be located).
func (d *decoder) line(dotted string) int {
	if dotted == "" {
		return 0
	}
	k, ok := d.spelled(dotted)
	if !ok {
		return 0
	}
	return d.locate(k)
}

// spelled is the dotted key as the file spells it, and whether the file
// has it. The toml package matches keys to the schema regardless of case
// ([Compile.limits] fills compile.limits), so the file's key must be found
// the same way, or a value it sets would escape the checks of its key.
func (d *decoder) spelled(dotted string) (toml.Key, bool) {
	want := strings.Split(dotted, ".")
	for _, k := range d.md.Keys() {
		if len(k) != len(want) {
			continue
		}
		same := true
		for i := range k {
			same = same && strings.EqualFold(k[i], want[i])
		}
		if same {
			return k, true
		}
	}
	return nil, false
}

// errProbe marks the value locate looks for.
var errProbe = errors.New("jail profile probe")

type probe struct{}

func (probe) UnmarshalTOML(any) error { return errProbe }

// locate finds the line of a key. The toml package records every key's
// position but only reports it in errors, so decode the file again into a
// type that has just this key, whose value fails: the error carries the
// line. Profiles are small; the cost does not matter.
func (d *decoder) locate(k toml.Key) int {
	t := reflect.TypeOf(probe{})
	for i := len(k) - 1; i >= 0; i-- {
		if i < len(k)-1 {
			switch d.md.Type(k[:i+1]...) {
			case "ArrayHash", "Array":
				t = reflect.SliceOf(t)
			}
		}
		if strings.Contains(k[i], ",") {
			return 0 // a struct tag cannot name it
		}
		t = reflect.StructOf([]reflect.StructField{{
			Name: "F", Type: t, Tag: reflect.StructTag("toml:" + strconv.Quote(k[i])),
		}})
	}
	_, err := toml.Decode(string(d.data), reflect.New(t).Interface())
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.Message == errProbe.Error() {
		return d.keyLine(pe.Position.Line, k[len(k)-1])
	}
	return 0
}

// keyLine moves from the line the toml package records for a value, which
// for a multi-line string or array is where the value ends, back to the
// line that starts with the key.
func (d *decoder) keyLine(line int, key string) int {
	lines := strings.Split(string(d.data), "\n")
	for l := min(line, len(lines)); l >= 1; l-- {
		t := strings.TrimLeft(lines[l-1], " \t")
		if strings.HasPrefix(t, key) || strings.HasPrefix(t, strconv.Quote(key)) || strings.HasPrefix(t, "[") {
			if strings.HasPrefix(t, "[") && !strings.Contains(t, key) {
				break // a table header: the key is not above it
			}
			return l
		}
	}
	return line
}

// profile converts and checks the raw profile, applying defaults; every
// check is one constraint with its own message.
func (d *decoder) profile(r *rawProfile) *Profile {
	p := &Profile{
		Name:        strings.TrimSuffix(path.Base(d.name), ".toml"),
		Description: r.Description,
		SourceName:  r.SourceName,
		Requires:    nilIfEmpty(r.Requires),
		Seccomp:     r.Seccomp,
		EnvFile:     r.EnvFile,
		Root: Root{
			RootFS: r.Root.RootFS, Image: r.Root.Image, Disk: int64(r.Root.Disk), Hostname: r.Root.Hostname,
			Network: sandbox.Net(r.Root.Network), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID,
			Workdir: r.Root.Workdir,
		},
	}
	if p.Seccomp == "" {
		p.Seccomp = DefaultSeccomp
	}
	if p.Root.Disk == 0 {
		p.Root.Disk = sandbox.DefaultDisk
	}
	if p.Root.Hostname == "" {
		p.Root.Hostname = DefaultHostname
	}
	if p.Root.Network == "" {
		p.Root.Network = sandbox.NetNone
	}
	if r.Root.UID != nil {
		p.Root.UID = uint32(*r.Root.UID)
	}
	if r.Root.GID != nil {
		p.Root.GID = uint32(*r.Root.GID)
	}
	if p.Root.Workdir == "" {
		p.Root.Workdir = DefaultWorkdir
	}
	for _, m := range r.Mounts {
		p.Mounts = append(p.Mounts, Mount(m))
	}
	if len(r.Env) > 0 {
		p.Env = r.Env
	}
	p.Limits = d.limits(r.Limits)
	d.checkLimits("limits", p.Limits, false)
	if r.Compile != nil {
		p.Compile = d.step("compile", r.Compile, p.Limits)
	}
	if r.Run != nil {
		p.Run = d.step("run", r.Run, p.Limits)
	}
	d.check(p)
	return p
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// limits converts the raw limits through the limits' descriptors: each
// rawLimits key is a limits.Fields name (TestRawLimitsMatchFields).
func (d *decoder) limits(r rawLimits) Limits {
	l := Limits{Strict: r.Strict}
	rv := reflect.ValueOf(r)
	for i := range rv.NumField() {
		f, ok := limits.FieldByName(rv.Type().Field(i).Tag.Get("toml"))
		if !ok {
			continue // strict, which is not a limit
		}
		f.Store(&l.Spec, rv.Field(i).Convert(reflect.TypeOf(f.Value(l.Spec))).Interface())
	}
	return l
}

func (d *decoder) step(table string, r *rawStep, profile Limits) *Step {
	s := &Step{Command: r.Command, Limits: profile.Merge(d.limits(r.Limits))}
	// A step's limits only make sense together with the profile's (an
	// extra_time needs a time from either), so check the merge, reporting
	// only the step's own keys: the profile's were checked on their own.
	d.checkLimits(table+".limits", s.Limits, true)
	if len(s.Command) == 0 || s.Command[0] == "" {
		d.fail(table+".command", "a step needs a command: write command = [\"prog\", \"arg\", ...]")
	}
	for _, a := range s.Command {
		for _, ph := range placeholderRE().FindAllString(a, -1) {
			if !slices.Contains(validPlaceholders, ph) {
				d.fail(table+".command", "unknown placeholder %s in %q: use {source}, {dir} or {exe}", ph, a)
			}
		}
		if strings.ContainsRune(a, 0) {
			d.fail(table+".command", "argument %q contains a NUL byte, which no program can receive", a)
		}
	}
	return s
}

// checkLimits reports limits.Spec.Validate's problems at their keys in
// table; with merged, only the keys the file sets in table (a step's own,
// on top of the profile's, which were checked on their own).
func (d *decoder) checkLimits(table string, l Limits, merged bool) {
	d.fields(table, l.Spec.Validate(), merged)
}

// fields reports each of the shared validators' field errors at its key
// under table ("" for the top level), referring to other keys by their
// names within the same table; other errors are reported at table.
func (d *decoder) fields(table string, err error, onlyDefined bool) {
	_ = field.Map(err, func(e error) error {
		fe, ok := e.(*field.Error)
		if !ok {
			d.fail(table, "%v", e)
			return nil
		}
		key := fe.Field
		if table != "" {
			key = table + "." + key
		}
		if _, defined := d.spelled(key); onlyDefined && !defined {
			return nil
		}
		d.fail(key, "%s", fe.Text(func(ref string) string { return ref[strings.LastIndexByte(ref, '.')+1:] }))
		return nil
	})
}

// check validates what can be validated without the host: paths that
// must exist are checked when the profile is used, by sandbox.Spec.
func (d *decoder) check(p *Profile) {
	if strings.ContainsAny(p.Description, "\n\r") {
		d.fail("description", "write a single line (it is shown in `jail profile list`)")
	}
	if p.SourceName != "" && (strings.ContainsAny(p.SourceName, "/\x00") || p.SourceName == "." || p.SourceName == "..") {
		d.fail("source_name", "%q: give a plain file name such as \"main.cpp\"", p.SourceName)
	}
	usesSource := false
	for _, s := range []*Step{p.Compile, p.Run} {
		if s != nil && slices.ContainsFunc(s.Command, func(a string) bool { return strings.Contains(a, "{source}") }) {
			usesSource = true
		}
	}
	if usesSource && p.SourceName == "" {
		d.fail("source_name", "a step uses {source}, so the profile needs source_name, such as \"main.py\"")
	}
	for _, req := range p.Requires {
		if req == "" || strings.ContainsRune(req, 0) || (strings.Contains(req, "/") && !path.IsAbs(req)) {
			d.fail("requires", "%q: give a program name such as \"g++\" (or an absolute path)", req)
		}
	}
	if !validSeccomp(p.Seccomp) {
		d.fail("seccomp", "%q: choose default, none, strict or a policy file path (containing '/' or ending in .toml or .json)", p.Seccomp)
	}
	if strings.ContainsRune(p.EnvFile, 0) {
		d.fail("env_file", "the path contains a NUL byte")
	}
	d.checkRoot(p.Root)
	for i, m := range p.Mounts {
		d.checkMount(i, m)
	}
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !envKeyRE().MatchString(k) {
			d.fail("env."+k, "%q is not a usable variable name: use letters, digits and _, not starting with a digit", k)
		}
		if strings.ContainsRune(p.Env[k], 0) {
			d.fail("env."+k, "the value contains a NUL byte")
		}
	}
}

func (d *decoder) checkRoot(r Root) {
	if err := sandbox.CheckRootFSPath(r.RootFS); err != nil {
		d.fields("", err, false)
	} else if r.RootFS != "" && !path.IsAbs(r.RootFS) {
		d.fail("root.rootfs", "%q: give an absolute path", r.RootFS)
	}
	if r.Image != "" && r.RootFS != "" {
		d.fail("root.image", "%q: an image is the root already; give rootfs or image, not both", r.Image)
	} else if strings.ContainsAny(r.Image, " \t\n,\x00") {
		d.fail("root.image", "%q is not an image name: write NAME[:TAG], as jail image ls shows it", r.Image)
	}
	if r.Disk < 1<<20 {
		d.fail("root.disk", "%d bytes is too small: give at least 1M", r.Disk)
	}
	d.fields("", sandbox.CheckHostname(r.Hostname), false)
	if r.Network != sandbox.NetNone && r.Network != sandbox.NetHost {
		d.fail("root.network", "%q: choose \"none\" (loopback only) or \"host\"", r.Network)
	}
	if !path.IsAbs(r.Workdir) || strings.ContainsRune(r.Workdir, 0) {
		d.fail("root.workdir", "%q: give an absolute path inside the sandbox, such as \"/box\"", r.Workdir)
	}
}

func (d *decoder) checkMount(i int, m Mount) {
	key := fmt.Sprintf("mount[%d]", i)
	fail := func(format string, args ...any) {
		d.errs = append(d.errs, errorf(d.name, d.mountLine(i), key, format, args...))
	}
	switch {
	case m.Source == "" || m.Target == "":
		fail("both source and target are needed")
	case !path.IsAbs(m.Source) || strings.ContainsRune(m.Source, 0):
		fail("source %q: the host path must be absolute", m.Source)
	case !path.IsAbs(m.Target) || strings.ContainsRune(m.Target, 0):
		fail("target %q: the sandbox path must be absolute", m.Target)
	case rootfs.ReservedTarget(m.Target):
		fail("target %q: / and the trees under /proc, /dev and /sys are built by jail; mount somewhere else", m.Target)
	}
}

// mountLine finds the i-th [[mount]] header, since the toml package keeps
// one position per key name, not per array element.
func (d *decoder) mountLine(i int) int {
	n := 0
	for ln, l := range strings.Split(string(d.data), "\n") {
		if strings.TrimSpace(l) == "[[mount]]" {
			if n == i {
				return ln + 1
			}
			n++
		}
	}
	return d.line("mount")
}
