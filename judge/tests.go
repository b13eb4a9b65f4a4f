package judge

import (
	"cmp"
	"strings"
)

// TestCase is one test of a tests directory: NAME.in and its answer,
// NAME.out or NAME.ans. It holds names, not contents, since tests may be
// large; open the files with OpenInput and OpenAnswer, which resolve them
// inside the directory again.
type TestCase struct {
	Name   string // NAME
	Input  string // the path of NAME.in, joined to the directory as given
	Answer string // the path of NAME.out or NAME.ans

	dir         string
	inBase, ans string
}

// naturalCompare orders names as people number tests: runs of digits by
// value ("2" before "10", "a2" before "a10"), the rest byte by byte, and
// equal values by their spelling ("01" before "1") so the order is total.
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			ei, ej := digitsEnd(a, i), digitsEnd(b, j)
			na, nb := strings.TrimLeft(a[i:ei], "0"), strings.TrimLeft(b[j:ej], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if c := cmp.Compare(a[i], b[j]); c != 0 {
			return c
		}
		i, j = i+1, j+1
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
