package seccomp

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// The built-in policies are compiled when jail is built (go generate,
// which make build runs) and embedded, because compiling them costs about
// 2 ms of every run. A program is used only when its fingerprint (the
// policy, the options, the architecture and the libseccomp version) is
// exactly the one asked for; anything else is compiled live.
//
//go:generate go run ./internal/genbpf
//go:embed precompiled
var precompiledFS embed.FS

// Fingerprint identifies everything a compiled program depends on.
func (p *Policy) Fingerprint(opts CompileOptions) string {
	p = p.full()
	major, minor, micro := libseccomp.GetLibraryVersion()
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Policy   *Policy
		KillAs   string
		Arch     string
		Library  string
		Compiler int
	}{p, killAs(opts), runtime.GOARCH, fmt.Sprintf("%d.%d.%d", major, minor, micro), compilerVersion})
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// compilerVersion changes whenever Compile's translation changes, so an
// embedded program from an older translation is never used.
const compilerVersion = 3

// PrecompiledPath is where go generate writes the program with this
// fingerprint, relative to the package directory.
func PrecompiledPath(fingerprint string) string { return "precompiled/" + fingerprint + ".bpf" }

// BuiltinIndexPath lists, for each built-in policy and option set, the
// fingerprint go generate compiled it under: "name kill-as fingerprint"
// lines, so a Builtin handle finds its program without building the
// policy to fingerprint it.
const BuiltinIndexPath = "precompiled/builtins.txt"

// BuiltinIndexLine is the index line for a built-in and its options.
func BuiltinIndexLine(p *Policy, opts CompileOptions) string {
	return p.Name + " " + killAs(opts) + " " + p.Fingerprint(opts) + "\n"
}

// precompiledBuiltin returns the embedded program for a built-in policy.
func precompiledBuiltin(name string, opts CompileOptions) (Program, bool) {
	index, err := precompiledFS.ReadFile(BuiltinIndexPath)
	if err != nil {
		return Program{}, false
	}
	prefix := name + " " + killAs(opts) + " "
	for line := range strings.Lines(string(index)) {
		if fp, ok := strings.CutPrefix(line, prefix); ok {
			return precompiled(strings.TrimSpace(fp))
		}
	}
	return Program{}, false
}

func killAs(opts CompileOptions) string {
	if opts.KillAs == "" {
		return "kill"
	}
	return opts.KillAs
}

// precompiled returns the embedded program for fingerprint, if any. The
// file is one byte (1 when the program notifies) followed by the BPF.
func precompiled(fingerprint string) (Program, bool) {
	// Parsed once each: a service compiles the same policy for every task.
	if prog, ok := parsedPrecompiled.Load(fingerprint); ok {
		return prog.(Program), true
	}
	prog, ok := parsePrecompiled(fingerprint)
	if ok {
		parsedPrecompiled.Store(fingerprint, prog)
	}
	return prog, ok
}

// parsedPrecompiled holds the embedded programs parsed, by fingerprint; a
// fingerprint not embedded is not stored, so it stays as small as the
// embedded set.
var parsedPrecompiled sync.Map

func parsePrecompiled(fingerprint string) (Program, bool) {
	b, err := precompiledFS.ReadFile(PrecompiledPath(fingerprint))
	if err != nil || len(b) < 9 {
		return Program{}, false
	}
	prog, err := ParseProgram(b[1:])
	if err != nil {
		return Program{}, false
	}
	prog.Notify = b[0] == 1
	return prog, true
}

// Encode is the embedded form of a program, for go generate.
func (p Program) Encode() []byte {
	flag := byte(0)
	if p.Notify {
		flag = 1
	}
	return append([]byte{flag}, p.Raw...)
}

// Builtins are the policies go generate precompiles, with the options
// jail compiles them with.
func Builtins() []*Policy { return []*Policy{Default(), Strict()} }

// BuiltinOptions are the CompileOptions precompiled for every built-in.
var BuiltinOptions = []CompileOptions{{KillAs: "kill"}, {KillAs: "notify"}}
