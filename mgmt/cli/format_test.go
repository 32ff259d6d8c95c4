package cli

import (
	"testing"
)

func TestLargenum(t *testing.T) {
	for _, tc := range []struct {
		in    uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99999999, false, " 99999999"},
		{100000000, false, "  100000K"},
		{999999999, false, "  999999K"},
		{1000000000, false, "    1000M"},
		{99999999999, false, "   99999M"},
		{100000000000, false, "     100G"},
		{100000000000000, false, "     100T"},
		{12345678, true, " 12345678"},
		{123456789, true, " 123456789"},
		{18446744073709551615, true, " 18446744073709551615"},
	} {
		if got := largenum(tc.in, tc.exact); got != tc.want {
			t.Errorf("largenum(%d, %v) = %q, want %q", tc.in, tc.exact, got, tc.want)
		}
	}
}
