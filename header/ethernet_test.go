package header

import (
	"net"
	"testing"
)

func TestEthernet(t *testing.T) {
	b := Ethernet{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
		0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd, // source
		0x08, 0x06, // ARP
	}
	if b.DestinationAddress() != (MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || !b.DestinationAddress().IsBroadcast() ||
		b.SourceAddress().String() != "02:00:5e:10:ab:cd" || b.SourceAddress().IsMulticast() || b.Type() != EtherTypeARP {
		t.Fatalf("misread % x", b)
	}
	src, dst := MAC{1, 2, 3, 4, 5, 6}, MAC{0xa, 0xb, 0xc, 0xd, 0xe, 0xf}
	b.SetSourceAddress(src)
	b.SetDestinationAddress(dst)
	b.SetType(EtherTypeIPv6)
	if b.SourceAddress() != src || b.DestinationAddress() != dst || b.Type() != EtherTypeIPv6 {
		t.Errorf("setters: % x", b)
	}
	if got, want := dst.String(), net.HardwareAddr(dst[:]).String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if !IsVLANType(EtherTypeVLAN) || !IsVLANType(EtherTypeQinQ) || IsVLANType(EtherTypeIPv4) {
		t.Error("IsVLANType")
	}
	if n := testing.AllocsPerRun(100, func() {
		b.SetSourceAddress(b.DestinationAddress())
	}); n != 0 {
		t.Errorf("allocs = %v", n)
	}
}
