package idmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// A file owned by a subordinate id is the namespace's to change: the
// caller, outside, may not even read it. Run does such work in a child
// of this binary that enters a new user namespace, waits for newuidmap
// and newgidmap to map it, and executes itself once more, since only an
// exec as the namespace's root gives it that namespace's capabilities
// (a Go process, being many threads, cannot enter one itself).

// helperEnv marks a helper, and which of its two starts it is in.
const helperEnv = "JAIL_IDMAP_HELPER"

// Descriptors the helper finds open: the go-ahead, written once the maps
// are, and where it writes its outcome.
const (
	goAheadFD = 3
	outcomeFD = 4
)

// Op is work a helper does as the namespace's root: args from Run, its
// standard input and output Run's streams. Its result and error both go
// back to the caller.
type Op func(args []string, stdin io.Reader, stdout io.Writer) (result any, err error)

var ops = map[string]Op{
	probeOp:  func([]string, io.Reader, io.Writer) (any, error) { return nil, nil },
	removeOp: helpRemove,
}

const (
	// probeOp maps a helper and does nothing else.
	probeOp = "idmap-probe"
	// removeOp removes trees.
	removeOp = "idmap-rm"
)

// RemoveAll removes dir and all in it as the root of a namespace with
// ids: files the ids' users made, which the caller may not remove.
func (ids *IDs) RemoveAll(dir string) error { return ids.Run(removeOp, []string{dir}, nil, nil, nil) }

func helpRemove(args []string, _ io.Reader, _ io.Writer) (any, error) {
	for _, d := range args {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Probe maps a helper with ids, to show that newuidmap and newgidmap
// accept them.
func (ids *IDs) Probe() error { return ids.Run(probeOp, nil, nil, nil, nil) }

// Register names op for Run; packages register theirs in init.
func Register(name string, op Op) { ops[name] = op }

type outcome struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// maxOutcome bounds what the parent reads of an outcome.
const maxOutcome = 1 << 20

// Run runs op with args in a helper mapped by ids; stdin and stdout
// (either may be nil) are its streams and its result is decoded into
// result (if not nil). The op's own error comes back as an error with
// its text, after result is decoded.
func (ids *IDs) Run(op string, args []string, stdin io.Reader, stdout io.Writer, result any) error {
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer goW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		goR.Close()
		return err
	}
	defer outR.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("/proc/self/exe", append([]string{op}, args...)...)
	cmd.Args[0] = "jail-idmap"
	cmd.Env = []string{helperEnv + "=1"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &stderr
	cmd.ExtraFiles = []*os.File{goR, outW}
	// A mount namespace too, of the helper's own: what it mounts, to
	// read an image's layers stacked, is gone with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	goR.Close()
	outW.Close()
	if err != nil {
		return fmt.Errorf("starting the id-mapped helper: %w", err)
	}
	if err := ids.Apply(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	goW.Write([]byte{1})
	goW.Close()
	raw, _ := io.ReadAll(io.LimitReader(outR, maxOutcome))
	werr := cmd.Wait()
	var o outcome
	if err := json.Unmarshal(raw, &o); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("the id-mapped helper (%s) failed: %v %s", op, werr, msg)
	}
	if result != nil && len(o.Result) > 0 {
		if err := json.Unmarshal(o.Result, result); err != nil {
			return err
		}
	}
	if o.Error != "" {
		return errors.New(o.Error)
	}
	return nil
}

// ServeIfHelper makes this process the helper Run started, if it is one,
// and then exits; main calls it first.
func ServeIfHelper() {
	switch os.Getenv(helperEnv) {
	case "":
		return
	case "1":
		// Not yet mapped: wait for the maps, then start as their root.
		var b [1]byte
		if n, _ := syscall.Read(goAheadFD, b[:]); n != 1 {
			os.Exit(1)
		}
		syscall.Close(goAheadFD)
		err := syscall.Exec("/proc/self/exe", os.Args, []string{helperEnv + "=2"})
		fmt.Fprintln(os.Stderr, "jail-idmap: exec:", err)
		os.Exit(1)
	case "2":
		os.Exit(serve())
	}
	fmt.Fprintln(os.Stderr, "jail: "+helperEnv+" is jail's own; unset it")
	os.Exit(1)
}

func serve() int {
	out := os.NewFile(outcomeFD, "outcome")
	if len(os.Args) < 2 || ops[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "jail-idmap: no such operation")
		return 1
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "jail-idmap: not mapped as the namespace's root")
		return 1
	}
	res, err := ops[os.Args[1]](os.Args[2:], os.Stdin, os.Stdout)
	var o outcome
	if res != nil {
		b, merr := json.Marshal(res)
		if merr != nil && err == nil {
			err = merr
		}
		o.Result = b
	}
	if err != nil {
		o.Error = err.Error()
	}
	b, _ := json.Marshal(o)
	if _, err := out.Write(b); err != nil {
		return 1
	}
	return 0
}
