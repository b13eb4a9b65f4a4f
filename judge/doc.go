// Package judge is the judging core that both `jail judge` and `jail serve`
// build on: a Task (a program, its files, one input or a list of tests,
// a checker or an interactor) goes in, a Result with one verdict per test
// and one for the task comes out. It builds Specs with the profiles
// resolver and runs them with a sandbox.Runner; it never re-implements a
// stage of a run.
//
// The life of a task, top-down (Judge):
//
//	Task.validate → helpers built (checker or interactor: Helper.prepare)
//	→ Program.Prepare (files into a work directory, each compile step once,
//	  CE on the first that fails) → per test: Build.Run with the test's
//	  input, the work directory read-only → the checker's reading (Check,
//	  a checker program, or the interactor beside the run) → verdict.Decide
//	  → verdict.Overall
//
// The parts that need no sandbox:
//
//   - the built-in checkers (ParseCheck, Check.Compare), which stream both
//     sides so that a 100 MB output costs a 64 KiB buffer, not 100 MB;
//   - the reading of a checker's or an interactor's result under testlib's
//     exit-code convention (TestlibOutcome);
//   - the discovery of a tests directory (LoadTests, LoadInputs), which
//     pairs NAME.in with its answer, sorts naturally and refuses files that
//     resolve outside the directory.
package judge
