// Package seccomp holds jail's syscall filters: a small policy model
// (default action, per-syscall rules with argument conditions), the
// built-in allowlist for untrusted code (Default, with its table of
// denied classes in default.go), loaders for jail TOML policies and
// Docker/OCI JSON profiles, and compilation to BPF with libseccomp.
//
// The split follows "compile in the parent, apply in the child": Compile
// runs before clone and yields a flat Program (raw sock_filter bytes); the
// sandbox's child only hands Program.Fprog() to seccomp(2), after
// PR_SET_NO_NEW_PRIVS and as the last step before execve, so that nothing
// the sandbox itself does later needs a syscall the filter denies.
//
// Violations are named by SyscallName and ABIName from the syscall number
// and audit arch that a SIGSYS siginfo or a user notification carries;
// Describe adds the argument that decided, from a notification's args.
//
// Everything is tested without privileges in a BPF interpreter over
// synthetic seccomp_data, and once for real (real_linux_test.go).
package seccomp
