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
	health := t.health(s)
	if s.quorum > 1 {
		t.note(s.n, "quorum %d translated to --bgp-min-servers %d: xdpvs announces the VIP (BGP) while that many real servers are up, "+
			"and uses the sorry server only when none is (keepalived: below the quorum of weights)", s.quorum, t.minServers(s))
	}
	for _, key := range s.keys {
		svc := "-t " + key.String()
		if s.proto == model.UDP {
			svc = "-u " + key.String()
		}
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
			port := rs.port
			if port == 0 {
				port = key.Port()
			}
			fwd := s.fwd
			if rs.fwd != "" {
				fwd = rs.fwd
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
		if health != "" {
			add(s.n, "--health "+svc+health)
		}
	}
}

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
