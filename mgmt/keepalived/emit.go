package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// maxLines bounds a translation: the dataplane holds some thousands of services and real servers,
// and a configuration of group ranges used many times could otherwise make millions.
const maxLines = 100000

// emit writes the lines of a service, once per address of its group: -A, the -a of each real
// server, the local addresses, the --health line.
func (t *translator) emit(s *service) {
	if t.full {
		return
	}
	if len(t.res.Lines)+len(s.keys)*(len(s.servers)+len(s.laddrs)+2) > maxLines {
		t.full = true
		t.note(s.n, "virtual_server %s and those after it not translated: the translation would pass %d lines, more than any director holds", strings.Join(s.n.args, " "), maxLines)
		return
	}
	health, markHealth := t.health(s)
	if s.quorum > 1 {
		t.note(s.n, "quorum %d translated to --bgp-min-servers %d: xdpvs announces the VIP (BGP) while that many real servers are up, "+
			"and uses the sorry server only when none is (keepalived: below the quorum of weights)", s.quorum, t.minServers(s))
	}
	t.markPorts(s)
	for _, key := range s.keys {
		svc := t.serviceOption(s, key)
		add := func(n *node, text string) {
			f, l := n.at()
			t.res.Lines = append(t.res.Lines, Line{Text: text, File: f, Line: l, Service: svc})
		}
		var b strings.Builder
		fmt.Fprintf(&b, "-A %s", svc)
		if s.sched != "" {
			fmt.Fprintf(&b, " -s %s", s.sched)
		}
		b.WriteString(s.persist)
		for _, f := range s.flags {
			b.WriteString(" " + f)
		}
		if s.quorum > 1 {
			fmt.Fprintf(&b, " --bgp-min-servers %d", t.minServers(s))
		}
		add(s.n, b.String())
		for _, rs := range s.servers {
			fwd := rs.forward(s)
			port := rs.port
			if port == 0 || key.mark != 0 && !rewritesPort(fwd) {
				port = key.ap.Port()
			}
			line := fmt.Sprintf("-a %s -r %s %s -w %d", svc, netip.AddrPortFrom(rs.addr, port), fwd, rs.weight)
			if rs.uth != 0 {
				line += " -x " + strconv.FormatUint(uint64(rs.uth), 10)
			}
			if rs.lth != 0 {
				line += " -y " + strconv.FormatUint(uint64(rs.lth), 10)
			}
			add(rs.n, line)
		}
		for _, l := range s.laddrs {
			add(s.n, "--add-laddr"+l+" "+svc)
		}
		switch {
		case key.mark != 0 && markHealth != "":
			add(s.n, "--health "+svc+markHealth)
		case key.mark == 0 && health != "":
			add(s.n, "--health "+svc+health)
		}
	}
}

// serviceOption is the option naming the service of key: -t|-u VIP:PORT, or -f MARK [-6]. A
// mark's first service also names the mark rules it needs.
func (t *translator) serviceOption(s *service, key svcKey) string {
	switch {
	case key.mark != 0:
		t.markRules(s, key)
		if s.v6 {
			return fmt.Sprintf("-f %d -6", key.mark)
		}
		return fmt.Sprintf("-f %d", key.mark)
	case s.proto == model.UDP:
		return "-u " + key.ap.String()
	}
	return "-t " + key.ap.String()
}

// markRules names, once per mark, what keepalived.conf does not hold: the iptables or nftables
// rules that give packets the mark, which xdpvs gives itself with --add-mark rules (it forwards
// before netfilter). A commented example heads the translation.
func (t *translator) markRules(s *service, key svcKey) {
	if t.marks[key.mark] {
		return
	}
	t.marks[key.mark] = true
	proto := "tcp"
	if s.proto == model.UDP {
		proto = "udp"
	}
	example := fmt.Sprintf("--add-mark -f %d --proto %s --dst VIP[/LEN] --dport PORT[-PORT]", key.mark, proto)
	what := "virtual_server fwmark"
	if key.n != s.n {
		what = "virtual_server_group entry fwmark"
	}
	t.note(key.n, "%s %d: the iptables/nftables rules that give packets mark %d are not in keepalived.conf and have no equivalent there: "+
		"write them as xdpvs mark rules (xdpvs forwards before netfilter), e.g. `%s' (docs/fwmark.md)", what, key.mark, key.mark, example)
	f, l := key.n.at()
	t.res.Comments = append(t.res.Comments,
		fmt.Sprintf("fwmark %d (%s:%d): write the rules that give the mark (iptables/nftables -j MARK in keepalived's site), e.g.:", key.mark, f, l),
		example)
}

// markPorts names the real servers of a fwmark service whose port is dropped: DR and TUN do not
// rewrite the packet, so a mark's real server takes every port of the mark (port 0).
func (t *translator) markPorts(s *service) {
	if !s.hasMark() {
		return
	}
	for _, rs := range s.servers {
		if fwd := rs.forward(s); rs.port != 0 && !rewritesPort(fwd) {
			t.note(rs.n, "port %d of real_server %s translated to 0 for the fwmark service: %s does not rewrite the port, the packet keeps its own", rs.port, rs.addr, fwd)
		}
	}
}

// forward is the -a switch of rs: its own lvs_method, else the service's.
func (rs *realServer) forward(s *service) string {
	if rs.fwd != "" {
		return rs.fwd
	}
	return s.fwd
}

// rewritesPort says whether a forwarding method may send a fwmark service's packets to another
// port (NAT and FULLNAT); DR and TUN keep it.
func rewritesPort(fwd string) bool { return fwd == "-m" || fwd == "--fullnat" }

// minServers is the quorum as a number of servers: the quorum of weights over the servers'
// mean weight, rounded up.
func (t *translator) minServers(s *service) int {
	var sum uint64
	for _, rs := range s.servers {
		sum += uint64(max(rs.weight, 1))
	}
	if len(s.servers) == 0 || sum == 0 {
		return s.quorum
	}
	mean := float64(sum) / float64(len(s.servers))
	n := int(float64(s.quorum)/mean + 0.999)
	return min(max(n, 1), model.MaxMinServers)
}
