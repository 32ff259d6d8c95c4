package sched

import (
	"encoding/binary"

	"github.com/xdpvs/xdpvs/header"
)

// hashTabBits is IP_VS_DH_TAB_BITS and IP_VS_SH_TAB_BITS: dh and sh hash into 256 buckets.
const (
	hashTabBits = 8
	hashTabSize = 1 << hashTabBits
	hashTabMask = hashTabSize - 1
)

func init() {
	Register("dh", func(cfg Config) Table { return shared{newDH(cfg)} })
}

// addrFold is the kernel's addr_fold in host order: the IPv4 address, or the XOR of the four 32-bit
// words of an IPv6 address.
func addrFold(a *header.Addr) uint32 {
	if a.Is4() {
		return binary.BigEndian.Uint32(a[12:])
	}
	return binary.BigEndian.Uint32(a[0:]) ^ binary.BigEndian.Uint32(a[4:]) ^
		binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[12:])
}

// l4Port is the port sh and mh hash with the port flag: the source port for TCP, UDP and SCTP, and 0
// for other protocols (ip_vs_sh_get_port, ip_vs_mh_get_port).
func l4Port(t *header.Tuple) uint32 {
	switch t.Proto {
	case 6, 17, 132:
		return uint32(t.SrcPort)
	}
	return 0
}

// dh is destination hashing (ip_vs_dh.c): 256 buckets filled with the destinations in list order,
// round robin, one bucket each regardless of weight; the connection goes to the bucket of its
// destination address, (addr_fold * 2654435761) mod 256. If that destination is quiescent or
// overloaded, there is no destination: dh has no fallback.
type dh struct {
	buckets [hashTabSize]int32 // -1 when there are no destinations
}

func newDH(cfg Config) *dh {
	s := &dh{}
	for i := range s.buckets {
		s.buckets[i] = -1
		if n := len(cfg.Dests); n > 0 {
			s.buckets[i] = int32(i % n)
		}
	}
	return s
}

func dhHash(a *header.Addr) uint32 { return (addrFold(a) * 2654435761) & hashTabMask }

func (s *dh) Schedule(t *header.Tuple, dests []Dest) int {
	j := int(s.buckets[dhHash(&t.DstAddr)])
	if j < 0 || j >= len(dests) || !available(&dests[j]) {
		return -1
	}
	return j
}
