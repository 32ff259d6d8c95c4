// Package testutil holds helpers shared by xdpvs tests: privilege checks,
// throw-away network namespaces joined by veth pairs, seeded randomness, and
// the module's commands built once per test process (Binaries).
//
// Every resource a helper creates is removed through tb.Cleanup, also when
// the test fails, so a run leaves no namespace, link or process behind (the
// binaries, shared by the tests of a process, are removed by Main).
// Helpers call tb.Fatal on setup errors: their results are always usable.
package testutil
