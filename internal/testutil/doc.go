// Package testutil holds helpers shared by xdpvs tests: privilege checks,
// throw-away network namespaces joined by veth pairs, and seeded randomness.
//
// Every resource a helper creates is removed through tb.Cleanup, also when
// the test fails, so a run leaves no namespace, link or process behind.
// Helpers call tb.Fatal on setup errors: their results are always usable.
package testutil
