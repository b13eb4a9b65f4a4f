// The seccomp filter, run in the init: when PROG's filter notifies, the
// init runs the policy's own program (errno returns and all) on the
// notification's data, to answer with exactly the errno the kernel would
// have returned. Classic BPF as seccomp admits it; the program is the
// parent's, compiled by libseccomp and checked by the kernel when PROG's
// variant of it was loaded.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>

#include "filter.h"

uint32_t jail_filter_run(const struct sock_filter *f, int n, const struct seccomp_data *d) {
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS];
	memset(mem, 0, sizeof mem);
	const unsigned char *data = (const unsigned char *)d;
	for (int pc = 0; pc < n; pc++) {
		const struct sock_filter *in = &f[pc];
		uint32_t k = in->k;
		uint32_t src = BPF_SRC(in->code) == BPF_X ? x : k;
		switch (BPF_CLASS(in->code)) {
		case BPF_LD:
			switch (BPF_MODE(in->code)) {
			case BPF_ABS:
				if (BPF_SIZE(in->code) != BPF_W || k % 4 || k > sizeof *d - 4)
					return SECCOMP_RET_KILL_PROCESS;
				memcpy(&a, data + k, 4);
				break;
			case BPF_LEN:
				a = sizeof *d;
				break;
			case BPF_IMM:
				a = k;
				break;
			case BPF_MEM:
				a = mem[k % BPF_MEMWORDS];
				break;
			default:
				return SECCOMP_RET_KILL_PROCESS;
			}
			break;
		case BPF_LDX:
			switch (BPF_MODE(in->code)) {
			case BPF_LEN:
				x = sizeof *d;
				break;
			case BPF_IMM:
				x = k;
				break;
			case BPF_MEM:
				x = mem[k % BPF_MEMWORDS];
				break;
			default:
				return SECCOMP_RET_KILL_PROCESS;
			}
			break;
		case BPF_ST:
			mem[k % BPF_MEMWORDS] = a;
			break;
		case BPF_STX:
			mem[k % BPF_MEMWORDS] = x;
			break;
		case BPF_ALU:
			switch (BPF_OP(in->code)) {
			case BPF_ADD: a += src; break;
			case BPF_SUB: a -= src; break;
			case BPF_MUL: a *= src; break;
			case BPF_DIV:
				if (!src)
					return SECCOMP_RET_KILL_PROCESS;
				a /= src;
				break;
			case BPF_MOD:
				if (!src)
					return SECCOMP_RET_KILL_PROCESS;
				a %= src;
				break;
			case BPF_OR: a |= src; break;
			case BPF_AND: a &= src; break;
			case BPF_XOR: a ^= src; break;
			case BPF_LSH: a = src < 32 ? a << src : 0; break;
			case BPF_RSH: a = src < 32 ? a >> src : 0; break;
			case BPF_NEG: a = -a; break;
			default: return SECCOMP_RET_KILL_PROCESS;
			}
			break;
		case BPF_JMP: {
			int taken;
			switch (BPF_OP(in->code)) {
			case BPF_JA:
				pc += (int)k;
				continue;
			case BPF_JEQ: taken = a == src; break;
			case BPF_JGT: taken = a > src; break;
			case BPF_JGE: taken = a >= src; break;
			case BPF_JSET: taken = (a & src) != 0; break;
			default: return SECCOMP_RET_KILL_PROCESS;
			}
			pc += taken ? in->jt : in->jf;
			break;
		}
		case BPF_RET:
			return BPF_RVAL(in->code) == BPF_A ? a : k;
		case BPF_MISC:
			if (BPF_MISCOP(in->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		}
	}
	return SECCOMP_RET_KILL_PROCESS;
}
