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
	panic("complement emits masked_eq and ge only, not " + c.Op.String())
}

// TestComplement checks that the conditions complement builds hold for
// exactly the values outside the set, each for one condition only (the
// rules they become must not overlap), at the edges of every value and
// at random.
func TestComplement(t *testing.T) {
	sets := []struct {
		name   string
		full   uint64
		values []uint64
	}{
		{"socket families", low32, []uint64{1, 2, 10, 16, 17, 40}},
		{"personalities", ^uint64(0), []uint64{0, 8, 0x20000, 0x20008, 0x40000, 0xffffffff}},
		{"both ends", low32, []uint64{0, 0xffffffff}},
		{"top of 64 bits", ^uint64(0), []uint64{^uint64(0)}},
		{"nothing", low32, nil},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range sets {
		t.Run(s.name, func(t *testing.T) {
			conds := complement(3, s.values, s.full)
			require.NotEmpty(t, conds)
			probes := []uint64{0, 1, s.full, s.full - 1, s.full / 2, s.full/2 + 1}
			for _, v := range s.values {
				probes = append(probes, v-1, v, v+1)
			}
			for range 2000 {
				probes = append(probes, rng.Uint64()&s.full, rng.Uint64()&0xff, rng.Uint64()&0xfffff)
			}
			for _, x := range probes {
				x &= s.full
				n := 0
				for _, c := range conds {
					assert.Equal(t, uint(3), c.Index)
					if condHolds(c, x) {
						n++
					}
				}
				if slices.Contains(s.values, x) {
					assert.Zero(t, n, "%#x is in the set", x)
				} else {
					assert.Equal(t, 1, n, "%#x is outside the set: exactly one condition must hold", x)
				}
			}
		})
	}
}
