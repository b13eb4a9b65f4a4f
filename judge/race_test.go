//go:build race

package judge

// The race detector slows the byte loops some twentyfold; the huge-output
// tests shrink under it so that -race stays a unit-test run.
const raceEnabled = true
