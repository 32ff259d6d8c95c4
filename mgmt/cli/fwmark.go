package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Firewall-mark services (-f MARK [-6], ipvsadm's) and xdpvs's mark rules (--add-mark -f MARK
// [--proto tcp|udp] --dst PREFIX [--dport PORT[-PORT]], an extension: at XDP there is no netfilter
// mark, so the director gives the marks itself).

// setFWMark is -f: ipvsadm's parse_fwmark, a mark from 1 to 2^32-1.
func setFWMark(p *parser, arg string, _ bool) error {
	n, err := strconv.ParseUint(arg, 10, 32)
	if err != nil || n == 0 {
		return parseErr("illegal fwmark specified")
	}
	p.c.HasService = true
	p.c.Service.ServiceKey = model.FWMarkKey(uint32(n), false)
	p.c.Mark.Mark = uint32(n)
	return nil
}

// setIPv6 is -6: the fwmark service of IPv6 packets.
func setIPv6(p *parser, _ string, _ bool) error {
	if p.c.Service.FWMark == 0 {
		return parseErr("-6 used without -f: an IPv6 service address says its family")
	}
	p.c.Service.ServiceKey = model.FWMarkKey(p.c.Service.FWMark, true)
	return nil
}

func setMarkProto(p *parser, arg string, _ bool) error {
	switch strings.ToLower(arg) {
	case "tcp":
		p.c.Mark.Protocol = model.TCP
	case "udp":
		p.c.Mark.Protocol = model.UDP
	case "any", "all", "":
		p.c.Mark.Protocol = 0
	default:
		return parseErr("invalid protocol `%s' specified (tcp, udp or any)", arg)
	}
	return nil
}

func setMarkDst(p *parser, arg string, _ bool) error {
	pf, err := netip.ParsePrefix(arg)
	if err != nil {
		a, err2 := netip.ParseAddr(arg)
		if err2 != nil {
			return parseErr("illegal destination `%s' specified (an address or a prefix)", arg)
		}
		pf = netip.PrefixFrom(a, a.BitLen())
	}
	p.c.Mark.Dst = pf
	p.c.Mark.PortLo, p.c.Mark.PortHi = 0, 65535 // every port, unless --dport (set after it) says otherwise
	return nil
}

// setMarkPorts is --dport PORT or PORT-PORT (also PORT:PORT, iptables's spelling).
func setMarkPorts(p *parser, arg string, _ bool) error {
	lo, hi, ok := strings.Cut(strings.ReplaceAll(arg, ":", "-"), "-")
	if !ok {
		hi = lo
	}
	l, ok1 := numberArg(lo, 0, 65535)
	h, ok2 := numberArg(hi, 0, 65535)
	if !ok1 || !ok2 || l > h {
		return parseErr("illegal port range `%s' specified (PORT or PORT-PORT)", arg)
	}
	p.c.Mark.PortLo, p.c.Mark.PortHi = uint16(l), uint16(h)
	return nil
}

// checkMark is --add-mark's and --del-mark's: the mark comes from -f (not -t or -u), and is the
// command's only service-like part.
func checkMark(c *model.Command) error {
	if c.Service.FWMark == 0 {
		return parseErr("--%s needs the mark: -f MARK", c.Op)
	}
	c.HasService, c.Service = false, model.ServiceSpec{}
	return nil
}

// markArgs are the options of a mark rule as -S writes them.
func markArgs(r *model.MarkRule) string {
	var b strings.Builder
	b.WriteString("-f " + strconv.FormatUint(uint64(r.Mark), 10))
	switch r.Protocol {
	case model.TCP:
		b.WriteString(" --proto tcp")
	case model.UDP:
		b.WriteString(" --proto udp")
	}
	b.WriteString(" --dst " + r.Dst.String())
	switch {
	case r.PortLo == 0 && r.PortHi == 65535:
	case r.PortLo == r.PortHi:
		b.WriteString(" --dport " + strconv.Itoa(int(r.PortLo)))
	default:
		b.WriteString(" --dport " + strconv.Itoa(int(r.PortLo)) + "-" + strconv.Itoa(int(r.PortHi)))
	}
	return b.String()
}

// serviceSwitch is how -S names a service: "-t VIP:PORT", "-u VIP:PORT", "-f MARK" or "-f MARK -6"
// (ipvsadm's print_service_entry with FMT_RULE).
func serviceSwitch(k *model.ServiceKey) string {
	switch {
	case k.FWMark != 0 && k.Address.Is6():
		return "-f " + strconv.FormatUint(uint64(k.FWMark), 10) + " -6"
	case k.FWMark != 0:
		return "-f " + strconv.FormatUint(uint64(k.FWMark), 10)
	case k.Protocol == model.UDP:
		return "-u " + addrPort(k.Address, k.Port)
	}
	return "-t " + addrPort(k.Address, k.Port)
}

// serviceName is how -L names a service: "TCP  VIP:PORT", "FWM  MARK" or "FWM  MARK IPv6".
func serviceName(k *model.ServiceKey) string {
	switch {
	case k.FWMark != 0 && k.Address.Is6():
		return "FWM  " + strconv.FormatUint(uint64(k.FWMark), 10) + " IPv6"
	case k.FWMark != 0:
		return "FWM  " + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	name := k.Protocol.String() + "  " + addrPort(k.Address, k.Port)
	if k.Address.Is4() {
		name = truncate(name, 33)
	}
	return name
}

// WriteMarks prints `show marks`: the mark rules in the order they match, and whether the mark has
// a service of the rule's family.
func WriteMarks(w io.Writer, st *api.State) {
	fmt.Fprintf(w, "%-10s %-5s %-43s %-11s %s\n", "Mark", "Proto", "Destination", "Ports", "Service")
	for i := range st.MarkRules {
		r := &st.MarkRules[i]
		proto := map[model.Protocol]string{0: "any", model.TCP: "tcp", model.UDP: "udp"}[r.Protocol]
		ports := strconv.Itoa(int(r.PortLo)) + "-" + strconv.Itoa(int(r.PortHi))
		switch {
		case r.PortLo == 0 && r.PortHi == 65535:
			ports = "all"
		case r.PortLo == r.PortHi:
			ports = strconv.Itoa(int(r.PortLo))
		}
		k := model.FWMarkKey(r.Mark, r.Dst.Addr().Is6())
		svc := "none"
		for j := range st.Services {
			if st.Services[j].ServiceKey == k {
				svc = serviceName(&k)
			}
		}
		fmt.Fprintf(w, "%-10d %-5s %-43s %-11s %s\n", r.Mark, proto, r.Dst, ports, svc)
	}
}
