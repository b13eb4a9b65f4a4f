// Raw system calls.
//
// The network namespace helper and the sandbox's pid 1 share the init's
// memory and so its thread-local errno, which the init reads meanwhile:
// they make raw system calls that return -errno and touch nothing but
// their stacks and the launch description.
#ifndef JAIL_RAW_H
#define JAIL_RAW_H

#if defined(__x86_64__)
static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
}
#else
#error "the sandbox's init makes raw system calls; add this architecture's calling convention"
#endif

static inline long raw_syscall(long n, long a, long b, long c) { return raw_syscall6(n, a, b, c, 0, 0, 0); }

#endif
