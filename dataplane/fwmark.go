package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/header"
)

// Firewall-mark services (ipvsadm -f). IPVS reads the mark netfilter gave a packet; at XDP there is
// none, so the marks come from the snapshot's MarkRules (protocol, destination prefix, destination
// port range → mark), which the workers match in order on a packet without a connection, before
// the (protocol, address, port) services, as IPVS looks up a marked packet's fwmark service first.
// A fwmark service's key is (mark, family): the persistence templates of its clients are keyed by
// it, so that a client sticks to one real server across every port of the mark. The steering
// program is given every (protocol, address, port) the rules cover, as services (markEndpoints),
// so that it redirects exactly those and leaves the rest of the prefix to the kernel.

// markRule is a MarkRule as the workers match it.
type markRule struct {
	addr   [2]uint64 // the prefix, masked, as two words of the 16-byte address (addrWords)
	mask   [2]uint64
	lo, hi uint16
	proto  uint8 // 0: TCP and UDP
	mark   uint32
}

var (
	unspec4 = header.AddrFromNetip(netip.IPv4Unspecified())
	unspec6 = header.AddrFromNetip(netip.IPv6Unspecified())
)

// markKey is the key of the fwmark service of mark for an address of addr's family.
func markKey(mark uint32, addr *header.Addr) svcKey {
	if addr.Is4() {
		return svcKey{addr: unspec4, mark: mark}
	}
	return svcKey{addr: unspec6, mark: mark}
}

// compileMarks validates the mark rules and compiles them.
func compileMarks(rules []control.MarkRule) ([]markRule, error) {
	if len(rules) > control.MaxMarkRules {
		return nil, fmt.Errorf("dataplane: %d mark rules: at most %d", len(rules), control.MaxMarkRules)
	}
	out := make([]markRule, 0, len(rules))
	for _, r := range rules {
		switch {
		case r.Mark == 0:
			return nil, fmt.Errorf("dataplane: mark rule %v: mark 0", r.Dst)
		case !r.Dst.IsValid() || r.Dst.Addr().Is4In6() || r.Dst != r.Dst.Masked():
			return nil, fmt.Errorf("dataplane: mark rule %d: destination %v is not a prefix", r.Mark, r.Dst)
		case r.PortLo > r.PortHi:
			return nil, fmt.Errorf("dataplane: mark rule %d %v: port range %d-%d", r.Mark, r.Dst, r.PortLo, r.PortHi)
		case r.Proto != 0 && r.Proto != header.ProtocolTCP && r.Proto != header.ProtocolUDP:
			return nil, fmt.Errorf("dataplane: mark rule %d %v: protocol %d: %w", r.Mark, r.Dst, r.Proto, ErrNotSupported)
		}
		bits := r.Dst.Bits()
		if r.Dst.Addr().Is4() {
			bits += 96 // in the IPv4-mapped form
		}
		var mask header.Addr
		for i := range mask {
			n := min(max(bits-8*i, 0), 8)
			mask[i] = byte(0xFF << (8 - n))
		}
		a := header.AddrFromNetip(r.Dst.Addr())
		out = append(out, markRule{addr: addrWords(&a), mask: addrWords(&mask), lo: r.PortLo, hi: r.PortHi,
			proto: r.Proto, mark: r.Mark})
	}
	if n := len(markEndpoints(rules)); n > control.MaxMarkEndpoints {
		return nil, fmt.Errorf("dataplane: the mark rules cover %d (protocol, address, port) endpoints: at most %d", n, control.MaxMarkEndpoints)
	}
	return out, nil
}

// markOf is the mark of a packet of proto to addr:port: that of the first rule matching it.
func (c *compiled) markOf(proto uint8, addr *header.Addr, port uint16) (uint32, bool) {
	w := addrWords(addr)
	for i := range c.marks {
		r := &c.marks[i]
		if (r.proto != 0 && r.proto != proto) || port < r.lo || port > r.hi {
			continue
		}
		if w[0]&r.mask[0] == r.addr[0] && w[1]&r.mask[1] == r.addr[1] {
			return r.mark, true
		}
	}
	return 0, false
}

// addrWords is a as two 64-bit words (in the machine's order: only compared with words made alike).
func addrWords(a *header.Addr) [2]uint64 {
	return [2]uint64{binary.NativeEndian.Uint64(a[:8]), binary.NativeEndian.Uint64(a[8:])}
}

// markEndpoints is what the steering program must redirect for the rules: every (protocol,
// address, port) they cover, a rule of every port as the all-ports endpoint (port 0) of each
// address. It stops counting past MaxMarkEndpoints + 1.
func markEndpoints(rules []control.MarkRule) []xsk.Endpoint {
	var out []xsk.Endpoint
	seen := map[xsk.Endpoint]bool{}
	for _, r := range rules {
		protos := []uint8{header.ProtocolTCP, header.ProtocolUDP}
		if r.Proto != 0 {
			protos = []uint8{r.Proto}
		}
		lo, hi := int(r.PortLo), int(r.PortHi)
		if lo <= 1 && hi == 0xFFFF {
			lo, hi = 0, 0
		}
		for a := r.Dst.Masked().Addr(); r.Dst.Contains(a); a = a.Next() {
			for _, proto := range protos {
				for port := lo; port <= hi; port++ {
					e := xsk.Endpoint{Proto: proto, Addr: a, Port: uint16(port)}
					if !seen[e] {
						seen[e] = true
						out = append(out, e)
					}
					if len(out) > control.MaxMarkEndpoints {
						return out
					}
				}
			}
		}
	}
	return out
}

// checkFWMark checks the key of a fwmark service (FWMark set): its family's unspecified address,
// port and protocol 0.
func checkFWMark(k ServiceKey) error {
	if !k.Addr.IsUnspecified() || k.Port != 0 || k.Proto != 0 {
		return fmt.Errorf("dataplane: fwmark service %d: address %v, port %d, protocol %d: want the unspecified address, 0 and 0",
			k.FWMark, k.Addr, k.Port, k.Proto)
	}
	return nil
}

// serviceProtos are the protocols of a service's packets: its own, or TCP and UDP for a fwmark
// service.
func serviceProtos(k ServiceKey) []uint8 {
	if k.FWMark != 0 {
		return []uint8{header.ProtocolTCP, header.ProtocolUDP}
	}
	return []uint8{k.Proto}
}
