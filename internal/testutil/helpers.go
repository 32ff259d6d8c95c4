package testutil

import "testing"

// MustNoErr fails the test when err is not nil, with the operation named.
func MustNoErr(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
