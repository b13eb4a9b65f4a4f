package seccomp

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func condHolds(c ArgCond, x uint64) bool {
	switch c.Op {
	case OpMaskedEQ:
		return x&c.Mask == c.Value
	case OpGE:
		return x >= c.Value
	}
	panic("unexpected op " + c.Op.String())
}

// matching counts the conditions x satisfies.
func matching(conds []ArgCond, x uint64) int {
	n := 0
	for _, c := range conds {
		if condHolds(c, x) {
			n++
		}
	}
	return n
}

// probes are values around each of values, structured ones (one or two
// bits set, runs of set bits, and the same with high bits) and random ones.
func probes(values []uint64) []uint64 {
	ps := []uint64{0, 1, low32, low32 - 1, low32 + 1, ^uint64(0), 1 << 31, 1 << 32}
	for _, v := range values {
		ps = append(ps, v-1, v, v+1, v|1<<32, v|1<<63)
	}
	for i := range 32 {
		for j := range 32 {
			ps = append(ps, 1<<i|1<<j)
			// The bits from i up to j, round the word.
			run := uint64(0)
			for k := i; ; k = (k + 1) % 32 {
				run |= 1 << k
				if k == j {
					break
				}
			}
			ps = append(ps, run, run|1<<32)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		ps = append(ps, rng.Uint64()&low32, rng.Uint64()&0xfffff, rng.Uint64())
	}
	return ps
}

// TestComplement32 checks that the conditions hold, each alone, for
// exactly the values whose low 32 bits are outside the set.
func TestComplement32(t *testing.T) {
	for _, set := range [][]uint32{
		{1, 2, 10, 16, 17, 40}, // socket's families
		{0, 0xffffffff},
		{0x5412},
		nil,
	} {
		conds := complement32(2, set)
		require.NotEmpty(t, conds)
		values := make([]uint64, len(set))
		for i, v := range set {
			values[i] = uint64(v)
		}
		for _, x := range probes(values) {
			for _, c := range conds {
				require.Equal(t, uint(2), c.Index)
			}
			if slices.Contains(values, x&low32) {
				assert.Zero(t, matching(conds, x), "set %x: %#x is in it", set, x)
			} else {
				assert.Equal(t, 1, matching(conds, x), "set %x: %#x is outside: exactly one condition must hold", set, x)
			}
		}
	}
}

// TestOtherPersonalities checks that the refusing conditions hold for a
// value exactly when no allow rule takes it.
func TestOtherPersonalities(t *testing.T) {
	allowed := []uint64{perLinux, perLinux32, perUname26, perUname26 | perLinux32, perQuery}
	conds := otherPersonalities()
	for _, x := range probes(append(allowed, addrNoRandomize)) {
		if slices.Contains(allowed, x) {
			assert.Zero(t, matching(conds, x), "%#x is allowed", x)
		} else {
			assert.NotZero(t, matching(conds, x), "%#x is allowed by no rule and refused by none", x)
		}
	}
}
