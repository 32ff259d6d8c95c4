package rs

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

func TestKeyValueLayout(t *testing.T) {
	local := netip.MustParseAddrPort("198.18.2.2:80")
	remote := netip.MustParseAddrPort("198.18.1.1:5001")
	k := MakeKey(local, remote)
	want := "00000000000000000000ffffc6120202" + // local, IPv4-mapped
		"00000000000000000000ffffc6120101" + // remote
		"0050" + "1389" // ports, network order
	if got := hex.EncodeToString(k[:]); got != want {
		t.Fatalf("key\n%s\nwant\n%s", got, want)
	}
	if k.Local() != local || k.Remote() != remote {
		t.Fatalf("round trip: %v %v", k.Local(), k.Remote())
	}
	c6 := netip.MustParseAddrPort("[2001:2::7]:65535")
	v := MakeValue(c6, 5*time.Second)
	if got := hex.EncodeToString(v[:18]); got != "20010002000000000000000000000007ffff" {
		t.Fatalf("value %s", got)
	}
	if v.Client() != c6 || v.Seen() != 5*time.Second {
		t.Fatalf("round trip: %v %v", v.Client(), v.Seen())
	}
	k6 := MakeKey(netip.MustParseAddrPort("[2001:2:0:2::2]:443"), netip.MustParseAddrPort("[2001:2:0:1::1]:1"))
	if k6.Local().String() != "[2001:2:0:2::2]:443" || k6.Remote().String() != "[2001:2:0:1::1]:1" {
		t.Fatalf("v6 round trip: %v %v", k6.Local(), k6.Remote())
	}
}
