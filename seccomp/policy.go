package seccomp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ActionKind is what the kernel does with a matching syscall.
type ActionKind uint8

const (
	// Allow runs the syscall.
	Allow ActionKind = iota
	// Errno fails the syscall with Action.Errno without running it.
	Errno
	// Kill kills the whole process (SECCOMP_RET_KILL_PROCESS), never just
	// the thread: a half-killed multithreaded runtime deadlocks instead of
	// reporting the violation.
	Kill
	// Log runs the syscall and writes an audit record.
	Log
	// Notify suspends the syscall and asks the supervisor holding the
	// filter's listener fd (SECCOMP_RET_USER_NOTIF).
	Notify
)

var kindNames = [...]string{Allow: "allow", Errno: "errno", Kill: "kill", Log: "log", Notify: "notify"}

func (k ActionKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// maxErrno is the kernel's MAX_ERRNO: a larger return value is not an
// error to the caller but a (bogus) success.
const maxErrno = 4095

// Action is a rule's or the policy's verdict on a syscall.
type Action struct {
	Kind ActionKind
	// Errno is the error number returned when Kind is Errno (1-4095).
	Errno uint16
}

// Convenience constructors, used by the built-in policy and tests.
var (
	ActAllow = Action{Kind: Allow}
	ActKill  = Action{Kind: Kill}
	ActLog   = Action{Kind: Log}
)

// ActErrno returns an Errno action.
func ActErrno(e unix.Errno) Action { return Action{Kind: Errno, Errno: uint16(e)} }

// String gives the form ParseAction reads: "allow", "kill", "log",
// "notify" or "errno:ENAME" (errno:N for numbers without a name).
func (a Action) String() string {
	if a.Kind != Errno {
		return a.Kind.String()
	}
	if n := unix.ErrnoName(unix.Errno(a.Errno)); n != "" {
		return "errno:" + n
	}
	return "errno:" + strconv.Itoa(int(a.Errno))
}

// ParseAction reads "allow", "kill", "log", "notify", "errno" (EPERM),
// "errno:EPERM" or "errno:38".
func ParseAction(s string) (Action, error) {
	name, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch strings.ToLower(name) {
	case "allow":
		if !hasArg {
			return ActAllow, nil
		}
	case "kill":
		if !hasArg {
			return ActKill, nil
		}
	case "log":
		if !hasArg {
			return ActLog, nil
		}
	case "notify":
		if !hasArg {
			return Action{Kind: Notify}, nil
		}
	case "errno":
		if !hasArg {
			return ActErrno(unix.EPERM), nil
		}
		e, err := ParseErrno(arg)
		if err != nil {
			return Action{}, fmt.Errorf("action %q: %w", s, err)
		}
		return Action{Kind: Errno, Errno: e}, nil
	default:
		return Action{}, fmt.Errorf("action %q: want allow, kill, log, notify or errno:NAME", s)
	}
	return Action{}, fmt.Errorf("action %q: only errno takes a value", s)
}

// ParseErrno reads an errno name (EPERM) or number (1-4095).
func ParseErrno(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		if n < 1 || n > maxErrno {
			return 0, fmt.Errorf("errno %d out of range 1-%d", n, maxErrno)
		}
		return uint16(n), nil
	}
	if e, ok := errnoByName()[strings.ToUpper(s)]; ok {
		return uint16(e), nil
	}
	return 0, fmt.Errorf("unknown errno %q", s)
}

// errnoByName inverts unix.ErrnoName, which knows one name per number, and
// adds the aliases people write.
var errnoByName = sync.OnceValue(func() map[string]unix.Errno {
	m := map[string]unix.Errno{
		"EWOULDBLOCK": unix.EWOULDBLOCK,
		"EDEADLOCK":   unix.EDEADLOCK,
		"ENOTSUP":     unix.ENOTSUP,
		"EOPNOTSUPP":  unix.EOPNOTSUPP,
	}
	for e := unix.Errno(1); e <= 200; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = e
		}
	}
	return m
})

// Op compares a syscall argument with a value.
type Op uint8

const (
	OpEQ Op = iota
	OpNE
	OpLT
	OpLE
	OpGT
	OpGE
	// OpMaskedEQ matches when arg&Mask == Value.
	OpMaskedEQ
)

var opNames = [...]string{OpEQ: "eq", OpNE: "ne", OpLT: "lt", OpLE: "le", OpGT: "gt", OpGE: "ge", OpMaskedEQ: "masked_eq"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// ParseOp reads eq, ne, lt, le, gt, ge or masked_eq.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if s == n {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("unknown op %q: want eq, ne, lt, le, gt, ge or masked_eq", s)
}

// ArgCond is one comparison on a syscall argument. Comparisons are
// unsigned and over the full 64-bit register: for int arguments the kernel
// ignores the upper half, so compare those with masked_eq and Mask
// 0xffffffff, or a caller can slip past eq by setting high bits
// (CVE-2019-10063 in flatpak's TIOCSTI filter).
type ArgCond struct {
	// Index is the argument's position, 0-5.
	Index uint
	Op    Op
	Value uint64
	// Mask is used by masked_eq only.
	Mask uint64
}

func (c ArgCond) String() string {
	if c.Op == OpMaskedEQ {
		return fmt.Sprintf("arg%d&%#x == %#x", c.Index, c.Mask, c.Value)
	}
	return fmt.Sprintf("arg%d %s %#x", c.Index, c.Op, c.Value)
}

// Rule applies Action to the syscalls in Names when all Args hold.
type Rule struct {
	Names  []string
	Action Action
	// Args are ANDed; an empty list matches every call.
	Args []ArgCond
	// Comment says why the rule exists; shown by `jail profile show`.
	Comment string
}

// Policy is a seccomp filter before compilation.
type Policy struct {
	Name          string
	DefaultAction Action
	Rules         []Rule
	// NativeOnly kills every call made through a non-native ABI (i386 and
	// x32 on amd64): the compat entry points have their own history of
	// bugs and no sandboxed program needs them.
	NativeOnly bool
	// Arches lists the non-native ABIs the filter admits, in libseccomp's
	// names (x86, x32, arm, ...), when NativeOnly is false; their syscalls
	// follow the same rules by name. Empty means every compat ABI of the
	// native architecture.
	Arches []string
	// Warnings lists what loading the policy skipped or approximated
	// (e.g. a Docker profile's syscalls this libseccomp does not know).
	Warnings []string

	// builtin is set on the handles Builtin returns: only Name is filled
	// in, and every method works on the built-in's full policy.
	builtin func() *Policy
}

// Builtin returns a handle on the built-in policy name ("default" or
// "strict") for running it: it compiles to the program embedded at build
// time without building the policy, which every run would otherwise pay
// for (about 0.5 ms: resolving some 350 syscall names through libseccomp,
// then fingerprinting the result). Its Rules are empty; Default and
// Strict return the policies themselves, to read or change.
func Builtin(name string) (*Policy, bool) {
	full, ok := builtins[name]
	if !ok {
		return nil, false
	}
	return &Policy{Name: name, builtin: full}, true
}

var builtins = map[string]func() *Policy{"default": Default, "strict": Strict}

// full is p itself, or for a Builtin handle the policy it stands for.
func (p *Policy) full() *Policy {
	if p.builtin != nil {
		return p.builtin()
	}
	return p
}

// RuleError is a validation failure of one rule; loaders use Index to
// point at the rule's line.
type RuleError struct {
	// Index is the rule's position in Policy.Rules, from 0.
	Index int
	Names []string
	// Field is the rejected field: names, action or args.
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s: %s: %v", ruleName(e.Index, Rule{Names: e.Names}), e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

func ruleErr(i int, r Rule, field, format string, args ...any) error {
	return &RuleError{Index: i, Names: r.Names, Field: field, Err: fmt.Errorf(format, args...)}
}

// ruleName names rule i in error messages: "rule 3 (ptrace)".
func ruleName(i int, r Rule) string {
	names := strings.Join(r.Names, ",")
	if len(names) > 40 {
		names = names[:37] + "..."
	}
	return fmt.Sprintf("rule %d (%s)", i+1, names)
}

// Validate runs every check and reports the first failure; each check
// names the rule and the field it rejects.
func (p *Policy) Validate() error {
	p = p.full()
	checks := []func(*Policy) error{
		checkAction,
		checkArches,
		checkRuleNames,
		checkArgs,
		checkConflicts,
	}
	for _, c := range checks {
		if err := c(p); err != nil {
			if p.Name != "" {
				return fmt.Errorf("seccomp policy %s: %w", p.Name, err)
			}
			return fmt.Errorf("seccomp policy: %w", err)
		}
	}
	return nil
}

func validAction(a Action) error {
	switch a.Kind {
	case Allow, Kill, Log, Notify:
		if a.Errno != 0 {
			return fmt.Errorf("action %s has an errno", a.Kind)
		}
	case Errno:
		if a.Errno < 1 || a.Errno > maxErrno {
			return fmt.Errorf("errno %d out of range 1-%d", a.Errno, maxErrno)
		}
	default:
		return fmt.Errorf("unknown action kind %d", a.Kind)
	}
	return nil
}

func checkAction(p *Policy) error {
	if err := validAction(p.DefaultAction); err != nil {
		return fmt.Errorf("default action: %w", err)
	}
	for i, r := range p.Rules {
		if err := validAction(r.Action); err != nil {
			return &RuleError{Index: i, Names: r.Names, Field: "action", Err: err}
		}
	}
	return nil
}

func checkArches(p *Policy) error {
	if p.NativeOnly && len(p.Arches) > 0 {
		return fmt.Errorf("arches %v: a native-only policy admits no other ABI", p.Arches)
	}
	for _, a := range p.Arches {
		if err := checkCompatArch(a); err != nil {
			return fmt.Errorf("arches: %w", err)
		}
	}
	return nil
}

func checkRuleNames(p *Policy) error {
	arches := p.abiNames()
	for i, r := range p.Rules {
		if len(r.Names) == 0 {
			return ruleErr(i, r, "names", "empty")
		}
		for _, n := range r.Names {
			if !knownSyscall(n, p) {
				return ruleErr(i, r, "names", "unknown syscall %q for %s", n, strings.Join(arches, "/"))
			}
		}
	}
	return nil
}

func checkArgs(p *Policy) error {
	for i, r := range p.Rules {
		var seen [6]bool
		for _, c := range r.Args {
			switch {
			case c.Index > 5:
				return ruleErr(i, r, "args", "index %d out of range 0-5", c.Index)
			case c.Op > OpMaskedEQ:
				return ruleErr(i, r, "args", "unknown op %d", c.Op)
			case c.Op != OpMaskedEQ && c.Mask != 0:
				return ruleErr(i, r, "args", "mask is only for masked_eq (arg%d %s)", c.Index, c.Op)
			case seen[c.Index]:
				// libseccomp refuses two comparisons on one argument
				// in a rule; split them into rules (OR) instead.
				return ruleErr(i, r, "args", "two conditions on arg%d (write one rule per condition)", c.Index)
			}
			seen[c.Index] = true
		}
	}
	return nil
}

// checkConflicts rejects a rule that libseccomp would silently drop: an
// unconditional rule for a syscall swallows every other rule for it, so a
// "deny ioctl TIOCSTI" next to "allow ioctl" would allow TIOCSTI.
func checkConflicts(p *Policy) error {
	type first struct {
		rule int
		act  Action
	}
	uncond := map[string]first{}
	for i, r := range p.Rules {
		if len(r.Args) > 0 {
			continue
		}
		for _, n := range r.Names {
			if f, ok := uncond[n]; ok && f.act != r.Action {
				return ruleErr(i, r, "action", "%s for %s conflicts with %s's %s", r.Action, n, ruleName(f.rule, p.Rules[f.rule]), f.act)
			}
			if _, ok := uncond[n]; !ok {
				uncond[n] = first{i, r.Action}
			}
		}
	}
	for i, r := range p.Rules {
		if len(r.Args) == 0 {
			continue
		}
		for _, n := range r.Names {
			if f, ok := uncond[n]; ok && f.act != r.Action {
				return ruleErr(i, r, "args", "conditional %s for %s is shadowed by %s's unconditional %s", r.Action, n, ruleName(f.rule, p.Rules[f.rule]), f.act)
			}
		}
	}
	return nil
}

// With returns a copy of p in which rules replace every rule of p that
// names the same syscalls: a profile that allows ptrace must not inherit
// the base's kill rule for it (libseccomp would keep whichever came first).
func (p *Policy) With(rules ...Rule) *Policy {
	p = p.full()
	override := map[string]bool{}
	for _, r := range rules {
		for _, n := range r.Names {
			override[n] = true
		}
	}
	q := *p
	q.Rules = nil
	q.Arches = append([]string(nil), p.Arches...)
	q.Warnings = append([]string(nil), p.Warnings...)
	for _, r := range p.Rules {
		var keep []string
		for _, n := range r.Names {
			if !override[n] {
				keep = append(keep, n)
			}
		}
		if len(keep) == 0 {
			continue
		}
		r.Names = keep
		r.Args = append([]ArgCond(nil), r.Args...)
		q.Rules = append(q.Rules, r)
	}
	q.Rules = append(q.Rules, rules...)
	return &q
}

// ErrUnknownArch reports an architecture name libseccomp does not know.
var ErrUnknownArch = errors.New("unknown architecture")
