package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpvs/xdpvs/mgmt/server"
)

// bgpCollector exports `show bgp` (server.BGP): the policy's global state, the sessions and every
// prefix. It exports nothing when the daemon announces nothing.
type bgpCollector struct {
	s                                                *server.Server
	announcing, draining, ann, wdr                   *prometheus.Desc
	peerUp, peerUptime, peerAdvertised               *prometheus.Desc
	prefixUp, prefixAnnouncements, prefixWithdrawals *prometheus.Desc
}

func newBGPCollector(s *server.Server) *bgpCollector {
	peer := []string{"peer", "peer_as"}
	pfx := []string{"prefix", "kind"}
	return &bgpCollector{
		s:                   s,
		announcing:          desc("bgp_announcing", "1 while the dataplane may be announced (programs attached, every worker alive, no drain).", nil),
		draining:            desc("bgp_draining", "1 during a drain (xdpvsadm drain, SIGTERM).", nil),
		ann:                 desc("bgp_announcements_total", "Prefixes that went from withdrawn to announced.", nil),
		wdr:                 desc("bgp_withdrawals_total", "Prefixes that went from announced to withdrawn.", nil),
		peerUp:              desc("bgp_peer_up", "1 while the BGP session with the peer is established.", peer),
		peerUptime:          desc("bgp_peer_uptime_seconds", "How long the session has been established (0: it is not).", peer),
		peerAdvertised:      desc("bgp_peer_advertised_prefixes", "Prefixes advertised to the peer.", peer),
		prefixUp:            desc("bgp_prefix_announced", "1 while the prefix is announced, 0 while the policy withholds it (show bgp says why).", pfx),
		prefixAnnouncements: desc("bgp_prefix_announcements_total", "Times the prefix was announced.", pfx),
		prefixWithdrawals:   desc("bgp_prefix_withdrawals_total", "Times the prefix was withdrawn.", pfx),
	}
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.announcing, c.draining, c.ann, c.wdr, c.peerUp, c.peerUptime, c.peerAdvertised,
		c.prefixUp, c.prefixAnnouncements, c.prefixWithdrawals} {
		ch <- d
	}
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.s.BGP()
	if b == nil {
		return
	}
	e := emitter{ch}
	e.gauge(c.announcing, bit(b.Announcing))
	e.gauge(c.draining, bit(b.Draining))
	e.counter(c.ann, b.Announcements)
	e.counter(c.wdr, b.Withdrawals)
	for _, p := range b.Peers {
		l := []string{p.Address.String(), strconv.FormatUint(uint64(p.AS), 10)}
		e.gauge(c.peerUp, bit(p.State == "established"), l...)
		up := 0.0
		if !p.Since.IsZero() {
			up = max(time.Since(p.Since).Seconds(), 0)
		}
		e.gauge(c.peerUptime, up, l...)
		e.gauge(c.peerAdvertised, float64(p.Advertised), l...)
	}
	for _, p := range b.Prefixes {
		l := []string{p.Prefix.String(), p.Kind}
		e.gauge(c.prefixUp, bit(p.Announced), l...)
		e.counter(c.prefixAnnouncements, p.Announcements, l...)
		e.counter(c.prefixWithdrawals, p.Withdrawals, l...)
	}
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
