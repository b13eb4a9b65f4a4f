package seccomp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loaderEnv makes the test binary a loader: it loads the filter in the
// named file loaderLoads times, stacked, and prints each load's time.
const loaderEnv = "JAIL_SECCOMP_BENCH_LOADER"

// loaderLoads stays under the kernel's 32,768 instructions for a whole
// chain with the largest built-in program.
const loaderLoads = 20

func loader(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 2
	}
	prog, err := ParseProgram(raw)
	if err != nil {
		return 2
	}
	runtime.LockOSThread()
	if unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != nil {
		return 2
	}
	fprog := prog.Fprog()
	var out []string
	for range loaderLoads {
		start := time.Now()
		_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(fprog)))
		took := time.Since(start)
		if e != 0 {
			os.Stderr.WriteString("loader: seccomp(SET_MODE_FILTER): " + e.Error() + "\n")
			return 2
		}
		out = append(out, strconv.FormatInt(took.Nanoseconds(), 10))
	}
	runtime.KeepAlive(prog)
	os.Stdout.WriteString(strings.Join(out, " ") + "\n")
	return 0
}

// BenchmarkLoad is what loading each built-in program costs the kernel
// (copying, checking and converting the classic BPF, then JIT-compiling
// it), which every sandboxed PROG pays before its exec: the median of
// b.N loads, in processes of their own, as ns/op.
func BenchmarkLoad(b *testing.B) {
	for _, p := range Builtins() {
		for _, kill := range []string{"kill", "notify"} {
			b.Run(p.Name+"-"+kill, func(b *testing.B) {
				prog, err := p.Compile(CompileOptions{KillAs: kill})
				if err != nil {
					b.Fatal(err)
				}
				path := b.TempDir() + "/filter.bpf"
				if err := os.WriteFile(path, prog.Raw, 0o600); err != nil {
					b.Fatal(err)
				}
				var loads []float64
				for len(loads) < b.N {
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), loaderEnv+"="+path)
					out, err := cmd.Output()
					if err != nil {
						b.Fatalf("loader: %v: %s", err, out)
					}
					for _, f := range strings.Fields(string(bytes.TrimSpace(out))) {
						ns, err := strconv.ParseFloat(f, 64)
						if err != nil {
							b.Fatalf("loader printed %q", out)
						}
						loads = append(loads, ns)
					}
				}
				slices.Sort(loads)
				b.ReportMetric(loads[len(loads)/2], "ns/op")
				b.ReportMetric(float64(len(prog.Instructions)), "instructions")
				if testing.Verbose() {
					fmt.Printf("%s-%s: %d loads, median %.0f us, p90 %.0f us\n", p.Name, kill, len(loads),
						loads[len(loads)/2]/1e3, loads[len(loads)*9/10]/1e3)
				}
			})
		}
	}
}
