package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
)

// The core names fields; the command line shows them as the flags the
// user typed, in the words jail run has always used.
func TestFlagErrors(t *testing.T) {
	s := &sandbox.Spec{
		Argv: []string{"/bin/true"}, Dir: "rel", Hostname: "", Net: "wifi", Disk: 0, TTY: true,
		UID: 1<<32 - 1, Env: []string{"=x"}, Binds: []rootfs.UserBind{{Source: "data", Target: "/in"}},
		Limits: limits.Spec{Memory: -1, OpenFiles: 2, ExtraTime: time.Second, Output: 1},
	}
	assert.Equal(t, `environment entry "=x": write KEY=VALUE
-w "rel": the working directory must be an absolute path inside the sandbox
-v data:/in: the host path must be absolute (try "$PWD/data")
--hostname "": use 1-63 letters, digits and dashes, starting with a letter or digit
--net "wifi": choose none (loopback only) or host
--uid/--gid 4294967295 is the kernel's invalid id; choose another
--disk 0 bytes: give at least 1M
--mem -1: must be positive
--extra-time 1s: only means something with --time; add --time
--nofile 2: PROG needs at least 4 (stdin, stdout, stderr and one more)
--output cannot be enforced with -t (the terminal is not a counted stream); drop one of them`, flagErrors(s.Validate()).Error())
	assert.Equal(t, "no program given: write it after --, as in: jail run -- /bin/echo hello",
		flagErrors((&sandbox.Spec{Dir: "/", Hostname: "jail", Net: sandbox.NetNone, Disk: 1 << 20}).Validate()).Error())
}
