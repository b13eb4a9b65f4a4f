// Package judge is the judging core that both `jail judge` and `jail serve`
// build on: given a test set and what PROG printed, it decides OK, WA, PE or
// a checker failure.
//
// This package holds the parts of judging that need no sandbox:
//
//   - the built-in checkers (ParseCheck, Check.Compare), which stream both
//     sides so that a 100 MB output costs a 64 KiB buffer, not 100 MB;
//   - the reading of a checker program's result under testlib's exit-code
//     convention (TestlibOutcome);
//   - the discovery of a tests directory (LoadTests), which pairs NAME.in
//     with its answer, sorts naturally and refuses files that resolve
//     outside the directory.
//
// Running PROG, the checker program and interactors, each in its own
// sandbox, belongs to the caller and is built on top of these.
package judge
