package model

import (
	"errors"
	"fmt"
	"slices"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// Firewall-mark services and mark rules. ipvsadm's -f MARK names a service by the netfilter mark
// an iptables rule gave the packet; xdpvs forwards before netfilter, so its own rules (MarkRule,
// xdpvsadm --add-mark) give the marks.

// checkFWMarkService checks the key of a fwmark service, which Exec builds (-f): one that came
// otherwise (a hand-written JSON command) is refused, and -j, which would drop its UDP packets,
// too.
func checkFWMarkService(s *ServiceSpec) error {
	if s.ServiceKey != FWMarkKey(s.FWMark, s.Address.Is6()) {
		return fmt.Errorf("fwmark service %d: address %v, port %d and protocol %v: want the unspecified address and 0",
			s.FWMark, s.Address, s.Port, s.Protocol)
	}
	if s.SynProxy {
		return errors.New("the SYN proxy (-j) is for TCP services: a fwmark service takes UDP too")
	}
	if s.ProxyProtocol == "v1" {
		return errors.New("PROXY protocol v1 is only for TCP virtual services (use v2 for a fwmark service)")
	}
	return nil
}

// checkMarkRule checks a mark rule: a mark, a prefix (its host bits clear), a port range, TCP,
// UDP or both.
func checkMarkRule(r *MarkRule) error {
	switch {
	case r.Mark == 0:
		return errors.New("illegal fwmark 0 specified")
	case !r.Dst.IsValid():
		return errors.New("a mark rule needs a destination (--dst PREFIX)")
	case r.Dst.Addr().Zone() != "" || r.Dst.Addr().Is4In6():
		return fmt.Errorf("illegal destination %v: an IPv4 or IPv6 prefix", r.Dst)
	case r.Dst != r.Dst.Masked():
		return fmt.Errorf("illegal destination %v: host bits set (did you mean %v?)", r.Dst, r.Dst.Masked())
	case r.PortLo > r.PortHi:
		return fmt.Errorf("illegal port range %d-%d", r.PortLo, r.PortHi)
	case r.Protocol != 0 && r.Protocol != TCP && r.Protocol != UDP:
		return fmt.Errorf("unsupported protocol %d", uint8(r.Protocol))
	}
	return nil
}

// changeMark is --add-mark and --del-mark.
func (m *Model) changeMark(op Op, r MarkRule) error {
	if err := checkMarkRule(&r); err != nil {
		return err
	}
	i := slices.Index(m.marks, r)
	switch {
	case op == OpDelMark && i < 0:
		return ErrNoMarkRule
	case op == OpDelMark:
		m.marks = slices.Delete(m.marks, i, i+1)
		return nil
	case i >= 0:
		return ErrMarkRuleExists
	case len(m.marks) >= control.MaxMarkRules:
		return fmt.Errorf("too many mark rules: at most %d", control.MaxMarkRules)
	}
	m.marks = append(m.marks, r)
	return nil
}

// markRules are the mark rules in the dataplane's terms.
func (m *Model) markRules() []control.MarkRule {
	out := make([]control.MarkRule, len(m.marks))
	for i, r := range m.marks {
		out[i] = control.MarkRule{Mark: r.Mark, Proto: uint8(r.Protocol), Dst: r.Dst, PortLo: r.PortLo, PortHi: r.PortHi}
	}
	return out
}
