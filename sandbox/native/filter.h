#ifndef JAIL_FILTER_H
#define JAIL_FILTER_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>

// jail_filter_run runs the classic BPF program f[0..n) over d, as the
// kernel runs a seccomp filter, and returns its SECCOMP_RET_* value; a
// malformed program kills.
uint32_t jail_filter_run(const struct sock_filter *f, int n, const struct seccomp_data *d);

#endif
