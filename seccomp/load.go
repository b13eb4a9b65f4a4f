package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Load reads a policy file: a jail TOML policy, or a Docker/OCI seccomp
// JSON profile (a JSON object with "defaultAction" and "syscalls").
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading seccomp policy: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on data already read; name is used in messages.
func Parse(name string, data []byte) (*Policy, error) {
	if isDockerProfile(data) {
		return parseDocker(name, data)
	}
	return parseTOML(name, data)
}

func isDockerProfile(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(trimmed, &probe) != nil {
		return false
	}
	_, hasDefault := probe["defaultAction"]
	_, hasSyscalls := probe["syscalls"]
	return hasDefault && hasSyscalls
}

// The jail TOML policy format:
//
//	name = "judge"           # optional, shown in messages
//	base = "default"         # optional: start from the built-in policy; a rule
//	                         # here replaces every base rule for its syscalls
//	default = "kill"         # allow | kill | log | notify | errno:ENAME | errno:N
//	                         # (default: kill, or the base's)
//	native_only = true       # kill calls from other ABIs (default: true)
//	arches = ["x86"]         # with native_only = false: the ABIs admitted
//	                         # (default: every compat ABI of the machine)
//
//	[[rule]]
//	names = ["ptrace"]
//	action = "allow"
//	comment = "gdb"          # optional
//	args = [{ index = 0, op = "eq", value = 1 }]   # ANDed; masked_eq takes mask
//
// Values are TOML integers; a negative value means its 64-bit two's
// complement (-100 for AT_FDCWD). Unknown keys are errors.
type tomlPolicy struct {
	Name       string     `toml:"name"`
	Base       string     `toml:"base"`
	Default    *string    `toml:"default"`
	NativeOnly *bool      `toml:"native_only"`
	Arches     []string   `toml:"arches"`
	Rules      []tomlRule `toml:"rule"`
}

type tomlRule struct {
	Names   []string  `toml:"names"`
	Action  string    `toml:"action"`
	Comment string    `toml:"comment"`
	Args    []tomlArg `toml:"args"`
}

type tomlArg struct {
	Index *int64 `toml:"index"`
	Op    string `toml:"op"`
	Value *int64 `toml:"value"`
	Mask  *int64 `toml:"mask"`
}

func parseTOML(name string, data []byte) (*Policy, error) {
	src := string(data)
	var tp tomlPolicy
	md, err := toml.Decode(src, &tp)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		if m := tomlTypeErr().FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s: %s", name, m[1], m[2], m[3])
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, fmt.Errorf("%s:%d: unknown key %q", name, keyLine(src, k), k.String())
	}

	p := &Policy{Name: tp.Name, DefaultAction: ActKill, NativeOnly: true}
	switch tp.Base {
	case "":
	case "default":
		p = Default()
		p.Name = tp.Name
	default:
		return nil, fmt.Errorf("%s:%d: base %q: want \"default\" or nothing", name, keyLine(src, toml.Key{"base"}), tp.Base)
	}
	if tp.Default != nil {
		a, err := ParseAction(*tp.Default)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: default: %w", name, keyLine(src, toml.Key{"default"}), err)
		}
		p.DefaultAction = a
	}
	if tp.NativeOnly != nil {
		p.NativeOnly = *tp.NativeOnly
	}
	if len(tp.Arches) > 0 {
		p.Arches = tp.Arches
	}

	rules := make([]Rule, 0, len(tp.Rules))
	for i, tr := range tp.Rules {
		r, field, err := tr.rule()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %s: %w", name, ruleLine(src, i, field), ruleName(i, Rule{Names: tr.Names}), field, err)
		}
		rules = append(rules, r)
	}
	// The file's own rules are checked alone first, so that a rule
	// number in a message is the file's.
	own := &Policy{Name: p.Name, DefaultAction: p.DefaultAction, NativeOnly: p.NativeOnly, Arches: p.Arches, Rules: rules}
	if err := own.Validate(); err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s:%d: %w", name, ruleLine(src, re.Index, re.Field), re)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if tp.Base != "" {
		p = p.With(rules...)
	} else {
		p.Rules = rules
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.Name == "" {
		p.Name = name
	}
	return p, nil
}

// tomlTypeErr matches BurntSushi/toml's decoding errors, which carry the
// line in their text only.
var tomlTypeErr = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`) })

// rule converts one [[rule]]; on error it names the field.
func (tr tomlRule) rule() (Rule, string, error) {
	r := Rule{Names: tr.Names, Comment: tr.Comment}
	if tr.Action == "" {
		return r, "action", errors.New("missing")
	}
	a, err := ParseAction(tr.Action)
	if err != nil {
		return r, "action", err
	}
	r.Action = a
	for j, ta := range tr.Args {
		if ta.Index == nil {
			return r, "args", fmt.Errorf("args[%d]: missing index", j)
		}
		if *ta.Index < 0 || *ta.Index > 5 {
			return r, "args", fmt.Errorf("args[%d]: index %d out of range 0-5", j, *ta.Index)
		}
		op, err := ParseOp(ta.Op)
		if err != nil {
			return r, "args", fmt.Errorf("args[%d]: %w", j, err)
		}
		if ta.Value == nil {
			return r, "args", fmt.Errorf("args[%d]: missing value", j)
		}
		c := ArgCond{Index: uint(*ta.Index), Op: op, Value: uint64(*ta.Value)}
		switch {
		case op == OpMaskedEQ && ta.Mask == nil:
			return r, "args", fmt.Errorf("args[%d]: masked_eq needs a mask", j)
		case ta.Mask != nil:
			c.Mask = uint64(*ta.Mask)
		}
		r.Args = append(r.Args, c)
	}
	return r, "", nil
}

var (
	ruleHeader = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*\[\[\s*rule\s*\]\]`) })
	anyHeader  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*\[`) })
)

// ruleLine finds the line of field in the i-th [[rule]] (the header's
// line when the field is not written there).
func ruleLine(src string, i int, field string) int {
	lines := strings.Split(src, "\n")
	n := -1
	for l, line := range lines {
		if !ruleHeader().MatchString(line) {
			continue
		}
		n++
		if n != i {
			continue
		}
		if field != "" {
			key := keyPattern(field)
			for m := l + 1; m < len(lines) && !anyHeader().MatchString(lines[m]); m++ {
				if key.MatchString(stripComment(lines[m])) {
					return m + 1
				}
			}
		}
		return l + 1
	}
	return 1
}

// keyLine finds where key k is written. BurntSushi/toml keeps key
// positions private, so this scans the source: the parent's line first,
// then the key's first appearance after it. Good enough to point a human
// at the right line.
func keyLine(src string, k toml.Key) int {
	lines := strings.Split(src, "\n")
	from := 0
	for depth, piece := range k {
		key := keyPattern(piece)
		header := regexp.MustCompile(`^\s*\[\[?\s*(?:[\w."'-]+\.)?"?` + regexp.QuoteMeta(piece) + `"?\s*\]\]?`)
		found := false
		for l := from; l < len(lines); l++ {
			line := stripComment(lines[l])
			if header.MatchString(line) || key.MatchString(line) {
				from, found = l, true
				break
			}
		}
		if !found {
			if depth == 0 {
				return 1
			}
			break
		}
		if depth < len(k)-1 {
			from++
		}
	}
	return from + 1
}

func keyPattern(name string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[\s{,.])["']?` + regexp.QuoteMeta(name) + `["']?\s*=`)
}

// stripComment drops a trailing # comment outside quotes.
func stripComment(line string) string {
	inQuote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote != 0 && c == inQuote:
			inQuote = 0
		case inQuote == 0 && (c == '"' || c == '\''):
			inQuote = c
		case inQuote == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}

// Docker/OCI profile, as moby's profiles/seccomp/seccomp.go defines it.
type dockerProfile struct {
	DefaultAction   string          `json:"defaultAction"`
	DefaultErrnoRet *uint           `json:"defaultErrnoRet"`
	Architectures   []string        `json:"architectures"`
	ArchMap         []dockerArchMap `json:"archMap"`
	Syscalls        []dockerSyscall `json:"syscalls"`
}

type dockerArchMap struct {
	Arch      string   `json:"architecture"`
	SubArches []string `json:"subArchitectures"`
}

type dockerSyscall struct {
	Name     string       `json:"name"`
	Names    []string     `json:"names"`
	Action   string       `json:"action"`
	Args     []dockerArg  `json:"args"`
	ErrnoRet *uint        `json:"errnoRet"`
	Includes dockerFilter `json:"includes"`
	Excludes dockerFilter `json:"excludes"`
}

type dockerArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo"`
	Op       string `json:"op"`
}

type dockerFilter struct {
	Arches    []string `json:"arches"`
	Caps      []string `json:"caps"`
	MinKernel string   `json:"minKernel"`
}

var dockerOps = map[string]Op{
	"SCMP_CMP_EQ": OpEQ, "SCMP_CMP_NE": OpNE, "SCMP_CMP_LT": OpLT, "SCMP_CMP_LE": OpLE,
	"SCMP_CMP_GT": OpGT, "SCMP_CMP_GE": OpGE, "SCMP_CMP_MASKED_EQ": OpMaskedEQ,
}

func parseDocker(name string, data []byte) (*Policy, error) {
	var dp dockerProfile
	if err := json.Unmarshal(data, &dp); err != nil {
		return nil, fmt.Errorf("%s: docker seccomp profile: %w", name, err)
	}
	p := &Policy{}
	var err error
	if p.DefaultAction, err = dockerAction(dp.DefaultAction, dp.DefaultErrnoRet, &p.Warnings); err != nil {
		return nil, fmt.Errorf("%s: defaultAction: %w", name, err)
	}
	if err := p.dockerArches(dp); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	kernel := kernelVersion()
	skipped := 0
	for i, sc := range dp.Syscalls {
		names := sc.Names
		if sc.Name != "" {
			names = append([]string{sc.Name}, names...)
		}
		if !dockerApplies(sc, kernel) {
			continue
		}
		act, err := dockerAction(sc.Action, sc.ErrnoRet, &p.Warnings)
		if err != nil {
			return nil, fmt.Errorf("%s: syscalls[%d] (%s): action: %w", name, i, strings.Join(names, ","), err)
		}
		var known []string
		for _, n := range names {
			if knownSyscall(n, p) {
				known = append(known, n)
			} else {
				skipped++
			}
		}
		if len(known) == 0 {
			continue
		}
		var conds []ArgCond
		sameIndex := false
		seen := map[uint]bool{}
		for j, a := range sc.Args {
			op, ok := dockerOps[a.Op]
			if !ok {
				return nil, fmt.Errorf("%s: syscalls[%d] (%s): args[%d]: unknown op %q", name, i, strings.Join(names, ","), j, a.Op)
			}
			c := ArgCond{Index: a.Index, Op: op, Value: a.Value}
			if op == OpMaskedEQ {
				// Docker's masked_eq puts the mask in value.
				c.Mask, c.Value = a.Value, a.ValueTwo
			}
			sameIndex = sameIndex || seen[a.Index]
			seen[a.Index] = true
			conds = append(conds, c)
		}
		if sameIndex {
			// runc ORs conditions on one argument: a rule each.
			for _, c := range conds {
				p.Rules = append(p.Rules, Rule{Names: known, Action: act, Args: []ArgCond{c}})
			}
		} else {
			p.Rules = append(p.Rules, Rule{Names: known, Action: act, Args: conds})
		}
	}
	if skipped > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("skipped %d syscall names unknown to libseccomp for %s", skipped, strings.Join(p.abiNames(), "/")))
	}
	p.dropShadowed()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.Name = name
	return p, nil
}

// dockerArches keeps the native architecture and the sub-architectures
// the profile declares for it; without any, the policy is native-only.
func (p *Policy) dockerArches(dp dockerProfile) error {
	native := runtimeArchName()
	var declared []string
	if len(dp.Architectures) > 0 {
		declared = dp.Architectures
	} else {
		for _, m := range dp.ArchMap {
			if scmpArchName(m.Arch) == native {
				declared = append([]string{m.Arch}, m.SubArches...)
			}
		}
	}
	nativeListed := false
	for _, a := range declared {
		n := scmpArchName(a)
		if n == native {
			nativeListed = true
			continue
		}
		if err := checkCompatArch(n); err != nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("ignoring architecture %s: %v", a, err))
			continue
		}
		p.Arches = append(p.Arches, n)
	}
	if len(declared) > 0 && !nativeListed {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the profile does not list the native architecture %s; applying it there anyway", native))
	}
	p.NativeOnly = len(p.Arches) == 0
	return nil
}

// dockerApplies evaluates includes/excludes for a sandbox that holds no
// capabilities, on this architecture and kernel.
func dockerApplies(sc dockerSyscall, kernel [2]int) bool {
	goarch := runtime.GOARCH
	if len(sc.Includes.Caps) > 0 {
		return false
	}
	if len(sc.Includes.Arches) > 0 && !contains(sc.Includes.Arches, goarch) {
		return false
	}
	if sc.Includes.MinKernel != "" {
		min, ok := parseKernel(sc.Includes.MinKernel)
		if !ok || kernel[0] < min[0] || (kernel[0] == min[0] && kernel[1] < min[1]) {
			return false
		}
	}
	if contains(sc.Excludes.Arches, goarch) {
		return false
	}
	// excludes.caps only bite when a listed capability is held: never.
	return true
}

func dockerAction(s string, errnoRet *uint, warnings *[]string) (Action, error) {
	switch s {
	case "SCMP_ACT_ALLOW":
		return ActAllow, nil
	case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS":
		return ActKill, nil
	case "SCMP_ACT_TRAP":
		*warnings = append(*warnings, "SCMP_ACT_TRAP imported as kill")
		return ActKill, nil
	case "SCMP_ACT_LOG":
		return ActLog, nil
	case "SCMP_ACT_NOTIFY":
		return Action{Kind: Notify}, nil
	case "SCMP_ACT_TRACE":
		// With no tracer attached the kernel fails the call with ENOSYS.
		*warnings = append(*warnings, "SCMP_ACT_TRACE imported as errno:ENOSYS (no tracer)")
		return ActErrno(unix.ENOSYS), nil
	case "SCMP_ACT_ERRNO":
		e := uint(unix.EPERM)
		if errnoRet != nil {
			e = *errnoRet
		}
		if e < 1 || e > maxErrno {
			return Action{}, fmt.Errorf("errnoRet %d out of range 1-%d", e, maxErrno)
		}
		return Action{Kind: Errno, Errno: uint16(e)}, nil
	}
	return Action{}, fmt.Errorf("unknown action %q", s)
}

// dropShadowed removes what libseccomp would ignore anyway (a later
// unconditional rule with another action, a conditional rule next to an
// unconditional one), with a warning, as Docker would load such a profile
// without complaint.
func (p *Policy) dropShadowed() {
	uncond := map[string]Action{}
	for _, r := range p.Rules {
		if len(r.Args) > 0 {
			continue
		}
		for _, n := range r.Names {
			if _, ok := uncond[n]; !ok {
				uncond[n] = r.Action
			}
		}
	}
	var out []Rule
	for _, r := range p.Rules {
		var keep []string
		for _, n := range r.Names {
			if a, ok := uncond[n]; ok && a != r.Action {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %s rule shadowed by an unconditional %s", n, r.Action, a))
				continue
			}
			keep = append(keep, n)
		}
		if len(keep) > 0 {
			r.Names = keep
			out = append(out, r)
		}
	}
	p.Rules = out
}

// scmpArchName turns SCMP_ARCH_X86_64 into libseccomp's name (amd64).
func scmpArchName(s string) string {
	n := strings.ToLower(strings.TrimPrefix(s, "SCMP_ARCH_"))
	if a, err := getArch(n); err == nil {
		return a
	}
	return n
}

func runtimeArchName() string {
	if native, err := nativeArch(); err == nil {
		return native.String()
	}
	return runtime.GOARCH
}

func kernelVersion() [2]int {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return [2]int{}
	}
	v, _ := parseKernel(unix.ByteSliceToString(u.Release[:]))
	return v
}

func parseKernel(s string) ([2]int, bool) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return [2]int{}, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	mn, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return [2]int{}, false
	}
	return [2]int{major, mn}, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
