//go:build linux

// Package vmtest tests jail inside qemu (TCG) guests, because the machines
// jail is developed on have neither a pure cgroup v2 hierarchy nor systemd as
// PID 1, and jail's limits must work on both kinds of real systems:
//
//   - cgroup2: a bare cgroup v2 machine with a subtree delegated to the test
//     user by chown, as the kernel documents delegation;
//   - systemd: systemd 252 as PID 1 with a lingering test user, whose
//     user@1000.service is the delegated subtree.
//
// guest.sh builds and boots the guests. Each guest runs one payload.sh,
// rendered from the checks table, as the test user (uid 1000); every check
// prints a RESULT line, and each line becomes a subtest here.
//
// Booting costs tens of seconds, so the tests run only when JAIL_VMTEST=1
// (make vmtest, CI) or when -run names them.
package vmtest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

const (
	modeCgroup2 = "cgroup2"
	modeSystemd = "systemd"
)

// check is one property verified inside a guest.
type check struct {
	// name is the subtest's name: lower-case letters, digits and dashes.
	name string
	// modes are the guests the check runs in; empty means all of them.
	modes []string
	// run is a POSIX sh snippet, run in a subshell as the test user with
	// cwd = the work directory and $JAIL = the jail binary.
	run string
	// expect is a sh function body over $out (run's stdout and stderr)
	// and $rc (run's exit status); exit status 0 means PASS. The helpers
	// has ERE and verdict are available.
	expect string
}

// checks is what the guests verify. The limit checks go here too.
var checks = []check{
	{
		name:   "payload-unprivileged",
		run:    `id -u`,
		expect: `[ "$out" = 1000 ]`,
	},
	{
		// PROG is in its time namespace on a kernel whose exec does not
		// move it there (the systemd guest's 6.1) as on one whose exec
		// does (the cgroup2 guest's), and dash's vfork still works.
		name:   "time-namespace",
		run:    `"$JAIL" run -- /bin/sh -c 'u=$(cut -d. -f1 /proc/uptime); [ "$u" -lt 10 ] && echo young; [ "$(readlink /proc/self/ns/time)" = "$(readlink /proc/self/ns/time_for_children)" ] && echo inside'`,
		expect: `[ "$rc" = 0 ] && has '^young$' && has '^inside$'`,
	},
	{
		name:   "jail-run",
		run:    `"$JAIL" run --json -- /bin/sh -c 'cat /proc/self/cgroup; id'`,
		expect: `[ "$rc" = 0 ] && [ "$(verdict)" = OK ] && has '^0::/' && has '^uid=1000[(]'`,
	},
	{
		name:   "delegated-cgroup",
		modes:  []string{modeCgroup2},
		run:    `cat /proc/self/cgroup`,
		expect: `[ "$out" = 0::/jail-delegated/shell ]`,
	},
	{
		name:  "delegated-cgroup-writable",
		modes: []string{modeCgroup2},
		run: `d=/sys/fs/cgroup/jail-delegated
test -w "$d" && test -w "$d/cgroup.procs" && test -w "$d/cgroup.subtree_control" &&
mkdir "$d/vmtest-probe" && rmdir "$d/vmtest-probe" && cat "$d/cgroup.controllers"`,
		expect: `[ "$rc" = 0 ] && has '(^| )memory( |$)' && has '(^| )pids( |$)' && has '(^| )cpu( |$)'`,
	},
	{
		// Enabling cpuset needs every process below to be the user's,
		// so this catches a root process left in the subtree.
		name:  "delegated-subtree-control",
		modes: []string{modeCgroup2},
		run: `d=/sys/fs/cgroup/jail-delegated
for c in $(cat "$d/cgroup.controllers"); do echo "+$c" >"$d/cgroup.subtree_control" || exit 1; done
cat "$d/cgroup.subtree_control"
for c in $(cat "$d/cgroup.controllers"); do echo "-$c" >"$d/cgroup.subtree_control" || exit 1; done`,
		expect: `[ "$rc" = 0 ] && has '(^| )memory( |$)' && has '(^| )pids( |$)' && has '(^| )cpu( |$)'`,
	},
	{
		// A pod's cgroup tree without a runtime class that makes it
		// writable (read-only, in a cgroup namespace of its own): jail
		// says the limits are not enforced, and doctor in a pod names
		// the field.
		name:  "pod-cgroup-read-only",
		modes: []string{modeCgroup2},
		run: `unshare -UrmC sh -c 'mount -o remount,bind,ro /sys/fs/cgroup || exit 9
KUBERNETES_SERVICE_HOST=10.0.0.1 "$0" doctor; "$0" run --mem 64M -- /bin/true' "$JAIL"`,
		expect: `[ "$rc" = 0 ] && has '^FAIL +pod spec.runtimeClassName +/sys/fs/cgroup is read-only' &&
has 'NOT enforced: /sys/fs/cgroup is mounted read-only, as a container.s is.*spec.runtimeClassName'`,
	},
	// The limit checks: the same programs as the host's limits_test.go,
	// and in each guest jail must pick the backend that guest offers.
	{
		name: "backend",
		run:  `"$JAIL" run --json --mem 64M -- /bin/true`,
		expect: `[ "$rc" = 0 ] && { [ "$(str limit_backend)" = cgroup2-delegated ] || [ "$(str limit_backend)" = cgroup2-systemd ]; } &&
[ "$(str peak_memory_source)" = "cgroup2 memory.peak" ] && ! has 'NOT enforced'`,
	},
	{
		name:   "backend-is-delegated",
		modes:  []string{modeCgroup2},
		run:    `"$JAIL" run --json --mem 64M -- /bin/true`,
		expect: `[ "$(str limit_backend)" = cgroup2-delegated ]`,
	},
	{
		name:   "backend-is-systemd",
		modes:  []string{modeSystemd},
		run:    `"$JAIL" run --json --mem 64M -- /bin/true`,
		expect: `[ "$(str limit_backend)" = cgroup2-systemd ]`,
	},
	{
		name: "memory-limit",
		run: `"$JAIL" run --json --mem 64M -- python3 -c 'b=[]
for i in range(200): b.append(bytearray(1<<20))
print("survived")'`,
		expect: `[ "$(verdict)" = MLE ] && ! has '^survived' && within "$(num peak_memory)" 58000000 76000000`,
	},
	{
		name: "pids-limit",
		run: `"$JAIL" run --json --pids 32 --wall 10s -- python3 -c 'import os
for i in range(50):
    try:
        if os.fork() == 0: continue
    except OSError: break
print("forked")'`,
		expect: `p=$(num peak_pids); [ -n "$p" ] && [ "$p" -le 32 ] && [ "$p" -gt 1 ]`,
	},
	{
		name:   "cpu-share",
		run:    `"$JAIL" run --json --cpu 10% --wall 2s -- python3 -c 'while True: pass'`,
		expect: `[ "$(verdict)" = TLE ] && within "$(awk -v u="$(num cpu_user)" -v s="$(num cpu_sys)" 'BEGIN{print u+s}')" 0.1 0.4`,
	},
	{
		name: "cpu-time-limit",
		run:  `"$JAIL" run --json --time 1s -- python3 -c 'while True: pass'`,
		expect: `[ "$(verdict)" = TLE ] && [ "$(str limit_hit)" = time ] && [ "$(str limit_backend)" != none ] &&
within "$(awk -v u="$(num cpu_user)" -v s="$(num cpu_sys)" 'BEGIN{print u+s}')" 1.0 1.3`,
	},
	{
		name:   "wall-limit",
		run:    `"$JAIL" run --json --wall 1s -- sleep 100`,
		expect: `[ "$(verdict)" = TLE ] && [ "$(str limit_hit)" = wall ]`,
	},
	{
		name:   "output-limit",
		run:    `"$JAIL" run --json --output 10K -- yes | wc -c`,
		expect: `[ "$(verdict)" = OLE ] && has '^10240$'`,
	},
	// PROG is cloned into its cgroup (CLONE_INTO_CGROUP): a write to
	// cgroup.procs would wait for an RCU grace period after any quiet
	// moment (limits' BenchmarkCgroupMigration). strace cannot read the
	// sandbox's memory, so the flags show as an address; what shows is
	// that clone3 (glibc's clone() is the clone system call, the write
	// path's) made PROG, and that PROG's spawner wrote no byte before
	// exec (the write path's "0"). Against the build before, this reads
	// "clone(" and 1.
	{
		name: "cloned-into-cgroup",
		run: `d=$(mktemp -d); strace -ff -qq -e trace=clone,clone3,write,execve -e signal=none -o "$d/t" "$JAIL" run --mem 64M -- /bin/true; echo "rc $?"
p=$(grep -L "^execve(\"$JAIL\"" $(grep -l '^execve(' "$d"/t.*)); pid=${p##*.}
echo "created by: $(grep -h -E "^clone3?\(.*\) += $pid\$" "$d"/t.* | grep -o -E '^clone3?\(')"
echo "prog writes of one byte: $(sed '/^execve/q' "$p" | grep -c -E '^write\([0-9]+, .*, 1\) += 1')"
rm -rf "$d"`,
		expect: `has '^rc 0$' && has '^created by: clone3\($' && has '^prog writes of one byte: 0$'`,
	},
	// PROG sees its own cgroup read-only at /sys/fs/cgroup, and runtimes
	// find the limits in it (cmd/jail/cgroupview_test.go does v1).
	{
		name: "cgroup-view",
		run: `"$JAIL" run --mem 64M --pids 20 -- python3 -c 'import errno, os
print(open("/sys/fs/cgroup/memory.max").read().strip(), open("/sys/fs/cgroup/pids.max").read().strip())
print(open("/proc/self/cgroup").read().strip())
for l in open("/proc/self/mountinfo"):
    f = l.split()
    if f[f.index("-") + 1].startswith("cgroup"): print("mount", f[3], f[4], f[5].split(",")[0])
for p in ["memory.max", "pids.max", "cgroup.procs", "cgroup.subtree_control"]:
    try:
        os.write(os.open("/sys/fs/cgroup/" + p, os.O_WRONLY), b"max\n"); print(p, "WRITABLE")
    except OSError as e: print(p, errno.errorcode[e.errno])'`,
		expect: `[ "$rc" = 0 ] && has '^67108864 20$' && has '^0::/$' && [ "$(printf '%s\n' "$out" | grep -c '^mount ')" = 1 ] &&
has '^mount / /sys/fs/cgroup ro$' && [ "$(printf '%s\n' "$out" | grep -cE '^[a-z_.]+ (EROFS|EACCES)$')" = 4 ]`,
	},
	{
		// A limit below 2 CPUs gives GOMAXPROCS 2 on this 2-CPU guest
		// either way; the files the runtime holds open show it read it.
		name:   "cgroup-view-go",
		run:    `"$JAIL" run --cpu 100% -v "$PWD/goprobe:/goprobe" -- /goprobe`,
		expect: `[ "$rc" = 0 ] && has '^open /sys/fs/cgroup/cpu.max$' && has '^gomaxprocs 2$'`,
	},
	{
		// Without the view, the JVM's heap is a quarter of the guest's
		// 1 GiB (256 MiB) and it sees 2 CPUs.
		name:   "cgroup-view-java",
		run:    `"$JAIL" run --mem 256M --cpu 100% -- java -XX:+PrintFlagsFinal -version | grep -E ' (MaxHeapSize|ActiveProcessorCount) '; "$JAIL" run --mem 256M --cpu 100% -- java -XshowSettings:system -version 2>&1 | grep -E 'Provider|Effective CPU|Memory Limit'`,
		expect: `h=$(printf '%s\n' "$out" | awk '$2 == "MaxHeapSize" {print $4}'); [ -n "$h" ] && [ "$h" -le 134217728 ] && has 'Provider: cgroupv2' && has 'Effective CPU Count: 1$'`,
	},
	{
		name:   "cgroup-view-node",
		run:    `"$JAIL" run --mem 256M -- node -e 'console.log("heap", require("v8").getHeapStatistics().heap_size_limit)'; node -e 'console.log("outside", require("v8").getHeapStatistics().heap_size_limit)'`,
		expect: `a=$(printf '%s\n' "$out" | awk '$1 == "heap" {print $2}'); b=$(printf '%s\n' "$out" | awk '$1 == "outside" {print $2}'); [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt 314572800 ] && [ "$a" -lt "$b" ]`,
	},
	// The spawner mounts the v2 view, so a sandbox built before its run's
	// cgroup existed shows it too: one `jail run` built ahead from the
	// last run's description, and a warm sandbox of jail serve's pool,
	// reused.
	{
		name:   "cgroup-view-built-ahead",
		run:    `rt=$(mktemp -d) && for i in 1 2; do XDG_RUNTIME_DIR=$rt "$JAIL" run --json --mem 64M -- cat /sys/fs/cgroup/memory.max; done`,
		expect: `[ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | grep -c '^67108864$')" = 2 ] && [ "$(num mounts)" = 0.000000 ]`,
	},
	{
		// The first task finds the sandbox warm, the second reused: each
		// sees its own cgroup, since the renewal unmounts the last
		// task's view. Where exec enters a time namespace (Linux 6.5)
		// each PROG was made ahead, in its task's cgroup made ahead too,
		// and showed that; on an older kernel none was.
		name: "cgroup-view-reused",
		run: `s=$(mktemp -d)/serve.sock
"$JAIL" serve --listen "unix:$s" --pool default=1:reuse 2>/dev/null & pid=$!
for i in $(seq 300); do curl -sf --unix-socket "$s" http://jail/readyz >/dev/null && break; sleep 0.1; done
for m in 64M 32M; do
curl -sS --max-time 60 --unix-socket "$s" 'http://jail/v1/runs?wait=30s' -d '{"steps":[{"argv":["sh","-c","cat /sys/fs/cgroup/memory.max; grep -c cgroup2 /proc/self/mountinfo"]}],"limits":{"mem":"'$m'"}}'
echo
sleep 1
done
kill $pid; wait $pid`,
		expect: `[ "$(printf '%s\n' "$out" | grep -c '"pool_hit": *true')" = 2 ] && [ "$(printf '%s\n' "$out" | grep -c '"made_ahead": *true')" = "$(uname -r | awk -F. '{print ($1 > 6 || $1 == 6 && $2 >= 5) ? 2 : 0}')" ] &&
has '"text": *"67108864\\n1\\n"' && has '"text": *"33554432\\n1\\n"'`,
	},
	{
		name: "no-cgroup-left",
		run: `for i in 1 2 3 4 5 6 7 8 9 10; do "$JAIL" run --mem 32M --pids 16 -- /bin/true || exit 1; done
find /sys/fs/cgroup -name 'jail-[0-9]*' -type d | grep -v jail-supervisor`,
		expect: `[ -z "$out" ]`,
	},
	{
		name:   "user-manager",
		modes:  []string{modeSystemd},
		run:    `timeout 60 systemctl --user is-system-running --wait`,
		expect: `has '^(running|degraded)$'`,
	},
	{
		name:   "user-bus",
		modes:  []string{modeSystemd},
		run:    `busctl --user status`,
		expect: `[ "$rc" = 0 ] && has '^BusScope=user$'`,
	},
	{
		name:   "user-delegation",
		modes:  []string{modeSystemd},
		run:    `cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers`,
		expect: `[ "$rc" = 0 ] && has '(^| )memory( |$)' && has '(^| )pids( |$)' && has '(^| )cpu( |$)'`,
	},
	// deploy/systemd's user units, installed as its README says: the
	// socket starts jail serve on the first connection, the service's
	// delegated cgroup holds the runs and enforces their limits, and a
	// stop drains. The three run in order, on the one service.
	{
		name:  "serve-units-install",
		modes: []string{modeSystemd},
		run: `command -v curl || exit 1
mkdir -p "$HOME/.local/bin" "$HOME/.config/systemd/user" && cp "$JAIL" "$HOME/.local/bin/jail" &&
cp deploy/jail-serve.socket deploy/jail-serve.service "$HOME/.config/systemd/user/" &&
systemctl --user daemon-reload && systemctl --user start jail-serve.socket || exit 1
s="$XDG_RUNTIME_DIR/jail/serve.sock"
test -S "$s" && stat -c 'mode %a' "$s" "${s%/*}"
echo "service $(systemctl --user is-active jail-serve.service)"
systemd-analyze --user verify jail-serve.socket jail-serve.service 2>&1 | sed 's/^/verify: /'`,
		// Not started before a client connects; systemd finds nothing
		// to say about the units.
		expect: `[ "$rc" = 0 ] && has '^mode 600$' && has '^mode 700$' && has '^service inactive$' && ! has '^verify: '`,
	},
	{
		name:  "serve-memory-limit",
		modes: []string{modeSystemd},
		run: `curl -sS --max-time 90 --unix-socket "$XDG_RUNTIME_DIR/jail/serve.sock" 'http://jail/v1/runs?wait=60s' \
-d '{"steps":[{"argv":["python3","-c","b = [bytearray(1 << 20) for i in range(200)]\nprint(\"survived\")"]}],"limits":{"mem":"64M"}}'
echo
echo "service $(systemctl --user is-active jail-serve.service)"
unit=$(systemctl --user show -P ControlGroup jail-serve.service)
main=$(cut -d: -f3 "/proc/$(systemctl --user show -P MainPID jail-serve.service)/cgroup")
echo "unit $unit"; echo "main $main"
case "$main" in "$unit"/*) echo "server in its unit's subtree" ;; esac`,
		// MLE from a cgroup below jail-serve.service, and the OOM kill
		// did not stop the service (OOMPolicy=continue). Raw steps, not
		// the python3 profile: its 2 s of CPU is too tight for python
		// under TCG on a busy host.
		expect: `[ "$(verdict)" = MLE ] && ! has 'survived' && [ "$(str limit_backend)" = cgroup2-delegated ] &&
has '"name":"mem","value":"67108864","mechanism":"cgroup2-delegated memory limit' &&
has '^unit /user[.]slice/user-1000[.]slice/user@1000[.]service/app[.]slice/jail-serve[.]service$' &&
has '^server in its unit.s subtree$' && has '^service active$'`,
	},
	{
		name:  "serve-stop-drains",
		modes: []string{modeSystemd},
		run: `s="$XDG_RUNTIME_DIR/jail/serve.sock"
cg="/sys/fs/cgroup$(systemctl --user show -P ControlGroup jail-serve.service)"
curl -sS --max-time 90 --unix-socket "$s" 'http://jail/v1/runs?wait=60s' \
-d '{"steps":[{"argv":["/bin/sh","-c","sleep 3; echo slept"]}]}' >serve-drain.out 2>&1 &
c=$!
# Stop once the run's cgroup exists, that is while it is in flight.
i=0
until find "$cg" -mindepth 1 -maxdepth 1 -type d -name 'jail-*' ! -name jail-supervisor | grep -q .; do
	i=$((i + 1)); [ $i -gt 200 ] && echo "no run in flight" && break; sleep 0.05
done
t0=$(cut -d' ' -f1 /proc/uptime)
systemctl --user stop jail-serve.socket jail-serve.service; echo "stop rc $?"
echo "stop took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{print b-a}')s"
wait $c; echo "curl rc $?"
cat serve-drain.out; echo
systemctl --user show -p ActiveState -p Result -p ExecMainCode -p ExecMainStatus jail-serve.service
test -e "$s" && echo "socket left" || echo "socket gone"
test -d "$cg" && echo "cgroup left" || echo "cgroup gone"`,
		// The run finished (KillMode=mixed signals jail serve alone), jail
		// serve exited 0 after draining, and the socket unit removed its
		// file.
		expect: `has '^stop rc 0$' && has '^curl rc 0$' && [ "$(verdict)" = OK ] && has '"text":"slept' &&
has '^ActiveState=inactive$' && has '^Result=success$' && has '^ExecMainStatus=0$' &&
has '^socket gone$' && has '^cgroup gone$' && ! has 'no run in flight'`,
	},
}

func (c check) in(mode string) bool {
	if len(c.modes) == 0 {
		return true
	}
	for _, m := range c.modes {
		if m == mode {
			return true
		}
	}
	return false
}

// payloadPreamble runs first in payload.sh. result runs check N in a
// subshell and prints its RESULT line (output flattened onto the line) on
// stdout, and its full output on stderr for the logs.
const payloadPreamble = `#!/bin/sh
# Generated by limits/vmtest/vm_test.go.
has() { printf '%s\n' "$out" | grep -Eq -- "$1"; }
verdict() { printf '%s\n' "$out" | sed -n 's/.*"verdict": *"\([A-Z]*\)".*/\1/p' | tail -n 1; }
# num KEY: the number of KEY in the last JSON result; str KEY: its string.
num() { printf '%s\n' "$out" | grep '"verdict"' | tail -n 1 | sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
str() { printf '%s\n' "$out" | grep '"verdict"' | tail -n 1 | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
# within X LO HI: LO <= X < HI, for decimals.
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x < hi) }'; }
result() {
	out=$("check_$2" 2>&1)
	rc=$?
	if ("expect_$2"); then st=PASS; else st=FAIL; fi
	echo "RESULT $1 $st rc=$rc out=$(printf '%s' "$out" | tr '\n' '|' | cut -c1-3000)"
	{ echo "---- $1 $st rc=$rc"; printf '%s\n' "$out"; } >&2
}
`

var checkName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// renderPayload writes the checks that apply to mode as payload.sh.
func renderPayload(mode string, cs []check) (string, []string, error) {
	var b strings.Builder
	b.WriteString(payloadPreamble)
	var names []string
	seen := map[string]bool{}
	for i, c := range cs {
		if !checkName.MatchString(c.name) {
			return "", nil, fmt.Errorf("rendering the payload: bad check name %q", c.name)
		}
		if seen[c.name] {
			return "", nil, fmt.Errorf("rendering the payload: duplicate check name %q", c.name)
		}
		seen[c.name] = true
		if !c.in(mode) {
			continue
		}
		fmt.Fprintf(&b, "\ncheck_%d() {\n%s\n}\nexpect_%d() {\n%s\n}\nresult %s %d\n", i, c.run, i, c.expect, c.name, i)
		names = append(names, c.name)
	}
	b.WriteString("exit 0\n")
	return b.String(), names, nil
}

type result struct {
	pass   bool
	detail string
}

// parseResults reads the RESULT lines of the payload's stdout.
func parseResults(stdout string) (map[string]result, error) {
	res := map[string]result{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "RESULT ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 2 || (f[1] != "PASS" && f[1] != "FAIL") {
			return nil, fmt.Errorf("parsing the payload output: malformed line %q", sc.Text())
		}
		if _, dup := res[f[0]]; dup {
			return nil, fmt.Errorf("parsing the payload output: two results for %s", f[0])
		}
		r := result{pass: f[1] == "PASS"}
		if len(f) == 3 {
			r.detail = f[2]
		}
		res[f[0]] = r
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parsing the payload output: %w", err)
	}
	return res, nil
}

func TestRenderAndParse(t *testing.T) {
	tests := []struct {
		name    string
		checks  []check
		mode    string
		want    []string
		wantErr string
	}{
		{name: "filters by mode", mode: modeCgroup2, checks: []check{
			{name: "all", run: "true", expect: "true"},
			{name: "systemd-only", modes: []string{modeSystemd}, run: "true", expect: "true"},
			{name: "both", modes: []string{modeSystemd, modeCgroup2}, run: "true", expect: "true"},
		}, want: []string{"all", "both"}},
		{name: "real table renders", checks: checks, mode: modeSystemd, want: namesFor(modeSystemd)},
		{name: "bad name", checks: []check{{name: "a b", run: "true", expect: "true"}}, mode: modeCgroup2,
			wantErr: "bad check name"},
		{name: "duplicate", checks: []check{{name: "a", run: "true", expect: "true"}, {name: "a", run: "true", expect: "true"}},
			mode: modeSystemd, wantErr: "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, names, err := renderPayload(tt.mode, tt.checks)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, names)
			assert.True(t, strings.HasPrefix(script, "#!/bin/sh\n"))
		})
	}
	// The rendered payload must be valid sh, and its RESULT lines must
	// parse; run it on the host with checks whose outcome is known.
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	script, _, err := renderPayload(modeCgroup2, []check{
		{name: "ok", run: `echo '"verdict":"OK"'; echo two`, expect: `[ "$rc" = 0 ] && [ "$(verdict)" = OK ] && has '^two$'`},
		{name: "bad", run: `echo x; exit 3`, expect: `[ "$rc" = 0 ]`},
		{name: "exit-in-expect", run: `true`, expect: `exit 1`},
	})
	require.NoError(t, err)
	out, err := exec.Command(sh, "-c", script).Output()
	require.NoError(t, err)
	res, err := parseResults(string(out))
	require.NoError(t, err)
	assert.Equal(t, map[string]result{
		"ok":             {pass: true, detail: `rc=0 out="verdict":"OK"|two`},
		"bad":            {pass: false, detail: "rc=3 out=x"},
		"exit-in-expect": {pass: false, detail: "rc=0 out="},
	}, res)
	_, err = parseResults("RESULT x MAYBE\n")
	assert.ErrorContains(t, err, "malformed")
}

func namesFor(mode string) []string {
	var names []string
	for _, c := range checks {
		if c.in(mode) {
			names = append(names, c.name)
		}
	}
	return names
}

func TestVMCgroup2(t *testing.T) { runGuest(t, modeCgroup2) }

func TestVMSystemd(t *testing.T) { runGuest(t, modeSystemd) }

// optedIn reports whether the VM tests should boot guests.
func optedIn() bool {
	if os.Getenv("JAIL_VMTEST") == "1" {
		return true
	}
	f := flag.Lookup("test.run")
	return f != nil && strings.Contains(f.Value.String(), "VM")
}

var (
	guestOnce sync.Once
	guestErr  error
	guestGone bool // guest.sh exit 3: qemu or the kernel cannot be had
)

// buildGuest runs guest.sh build once per process.
func buildGuest(t testing.TB) {
	t.Helper()
	guestOnce.Do(func() {
		start := time.Now()
		out, err := exec.Command("bash", "guest.sh", "build").CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			guestGone = true
			guestErr = fmt.Errorf("guest.sh build: %s", strings.TrimSpace(string(out)))
		case err != nil:
			guestErr = fmt.Errorf("guest.sh build: %v\n%s", err, out)
		default:
			t.Logf("guest setup (guest.sh build): %.1fs\n%s", time.Since(start).Seconds(), strings.TrimSpace(string(out)))
		}
	})
	if guestGone {
		testutil.Skip(t, "no guest to boot: %v", guestErr)
	}
	require.NoError(t, guestErr)
}

var (
	jailOnce sync.Once
	jailPath string
	jailErr  error
)

// jailBinary is JAIL_BIN, or bin/jail after make build.
func jailBinary(t testing.TB) string {
	t.Helper()
	jailOnce.Do(func() {
		if jailPath = os.Getenv("JAIL_BIN"); jailPath != "" {
			return
		}
		root, err := testutil.ModuleRoot()
		if err != nil {
			jailErr = err
			return
		}
		cmd := exec.Command("make", "--no-print-directory", "build")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			jailErr = fmt.Errorf("make build: %v\n%s", err, out)
			return
		}
		jailPath = filepath.Join(root, "bin", "jail")
	})
	require.NoError(t, jailErr)
	return jailPath
}

// vmTimeout bounds one boot, or less when the test binary's -timeout
// comes sooner, so a hung guest fails the test instead of killing the
// whole run. The systemd guest's payload took 150-265 s on a busy 2-CPU
// host under TCG (265 s timed out at the 240 s it once had), so a boot
// gets 8 minutes, its payload 7; both guests fit the 20 minutes make
// vmtest gives the package.
func vmTimeout(t *testing.T) time.Duration {
	t.Helper()
	d := 480 * time.Second
	if dl, ok := t.Deadline(); ok {
		left := time.Until(dl) - 20*time.Second
		require.Greater(t, left, 30*time.Second, "too little of -timeout left to boot a guest")
		d = min(d, left)
	}
	return d
}

func runGuest(t *testing.T, mode string) {
	if !optedIn() {
		t.Skip("boots a qemu guest: set JAIL_VMTEST=1 or -run VM")
	}
	script, names, err := renderPayload(mode, checks)
	require.NoError(t, err)
	g := bootGuest(t, mode, script, vmTimeout(t))
	stdout, stderr := g.stdout, g.stderr
	if !assert.Equal(t, 0, g.rc, "payload exit status (124: it timed out in the guest)") {
		t.Logf("payload stderr:\n%s", stderr)
	}
	results, err := parseResults(string(stdout))
	require.NoError(t, err)

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r, ok := results[name]
			if !ok {
				t.Fatalf("no RESULT line for %s; payload stdout:\n%s\nstderr:\n%s", name, stdout, stderr)
			}
			assert.True(t, r.pass, "%s failed in the %s guest: %s", name, mode, r.detail)
			// The figures behind a pass (CPU used, peak memory...) are
			// the lane's enforcement measurements; keep them in the log.
			t.Logf("%s", r.detail)
		})
		delete(results, name)
	}
	for name := range results {
		t.Errorf("RESULT line for unknown check %s", name)
	}
	if mode == modeCgroup2 {
		t.Run("root-backend", func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join(g.work, "root-stdout"))
			require.NoError(t, err, "the guest ran no root check")
			t.Logf("%s", out)
			assert.Contains(t, string(out), `"limit_backend":"cgroup2-root"`)
			assert.Contains(t, string(out), `"verdict":"MLE"`)
			assert.NotContains(t, string(out), "/sys/fs/cgroup/jail/jail-", "a run's cgroup was left behind")
		})
	}
	if t.Failed() {
		t.Logf("console:\n%s", tail(filepath.Join(g.work, "console.log"), 60))
	}
}

// guestRun is what one boot left: the payload's output and exit status,
// and the directory shared with the guest.
type guestRun struct {
	stdout, stderr []byte
	rc             int
	work           string
}

// bootGuest boots the mode guest once with script as the payload, which
// the test user runs with $JAIL set to the jail binary under test.
func bootGuest(t testing.TB, mode, script string, timeout time.Duration) guestRun {
	t.Helper()
	buildGuest(t)
	bin := jailBinary(t)
	work := t.TempDir()
	// The guest's test user writes here through 9p, which checks the
	// host's modes.
	require.NoError(t, os.Chmod(work, 0o777))
	jail, err := os.ReadFile(bin)
	require.NoError(t, err, "reading the jail binary")
	require.NoError(t, os.WriteFile(filepath.Join(work, "jail"), jail, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(work, "payload.sh"), []byte(script), 0o755))
	// The systemd user units the serve-* checks install.
	root, err := testutil.ModuleRoot()
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(work, "deploy"), 0o755))
	for _, unit := range []string{"jail-serve.socket", "jail-serve.service"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", unit))
		require.NoError(t, err, "reading the unit")
		require.NoError(t, os.WriteFile(filepath.Join(work, "deploy", unit), b, 0o644))
	}
	// A static Go binary for the cgroup-view-go check: the guest's /usr
	// is the host's, but compiling under TCG would take most of a boot.
	build := exec.Command("go", "build", "-o", filepath.Join(work, "goprobe"), "./testdata/goprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the Go probe: %s", out)

	console, err := os.Create(filepath.Join(work, "console.log"))
	require.NoError(t, err)
	defer console.Close()
	cmd := exec.Command("bash", "guest.sh", "run", mode, work)
	cmd.Stdout, cmd.Stderr = console, console
	// The payload gets what is left after a boot and a poweroff.
	cmd.Env = append(os.Environ(), fmt.Sprintf("JAIL_VM_TIMEOUT=%d", int(timeout.Seconds())),
		fmt.Sprintf("JAIL_VM_PAYLOAD_TIMEOUT=%d", max(int(timeout.Seconds())-60, 60)))
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)

	rcText, err := os.ReadFile(filepath.Join(work, "exit-code"))
	if err != nil {
		t.Fatalf("the %s guest returned no results (guest.sh run: %v, %.1fs)\nconsole:\n%s",
			mode, runErr, wall.Seconds(), tail(filepath.Join(work, "console.log"), 100))
	}
	times, _ := os.ReadFile(filepath.Join(work, "guest-times"))
	t.Logf("%s guest cycle (boot, payload, poweroff): %.1fs wall; guest uptime: %s",
		mode, wall.Seconds(), strings.Join(strings.Fields(string(times)), " "))
	stdout, err := os.ReadFile(filepath.Join(work, "stdout"))
	require.NoError(t, err)
	stderr, _ := os.ReadFile(filepath.Join(work, "stderr"))
	rc, err := strconv.Atoi(strings.TrimSpace(string(rcText)))
	require.NoError(t, err, "parsing the payload's exit code %q", rcText)
	return guestRun{stdout: stdout, stderr: stderr, rc: rc, work: work}
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
