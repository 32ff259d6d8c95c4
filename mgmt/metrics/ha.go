package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// haCollector exports `show ha` (server.HA): the role, its changes, whether the dataplane
// forwards and whether the director is ready to take traffic.
type haCollector struct {
	s                                         *server.Server
	role, since, transitions, forwarding, rdy *prometheus.Desc
}

func newHACollector(s *server.Server) *haCollector {
	return &haCollector{
		s:           s,
		role:        desc("ha_role", "1 for the director's active/standby role (master, backup, fault; standalone without --ha), 0 for the others.", []string{"role"}),
		since:       desc("ha_role_since_seconds", "When the director took its role, in seconds since the epoch.", nil),
		transitions: desc("ha_transitions_total", "Changes of role (xdpvsadm ha role).", nil),
		forwarding:  desc("ha_forwarding", "1 while the dataplane forwards (master, standalone), 0 while it stands by.", nil),
		rdy:         desc("ha_ready", "1 while the director is ready to take traffic (xdpvsadm ha ready).", nil),
	}
}

func (c *haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.role, c.since, c.transitions, c.forwarding, c.rdy} {
		ch <- d
	}
}

func (c *haCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.HA()
	e := emitter{ch}
	for _, r := range append([]string{api.HAStandalone}, api.HARoles...) {
		e.gauge(c.role, bit(h.Role == r), r)
	}
	e.gauge(c.since, float64(h.Since.UnixNano())/1e9)
	e.counter(c.transitions, h.Transitions)
	e.gauge(c.forwarding, bit(h.Forwarding))
	e.gauge(c.rdy, bit(h.Ready))
}
