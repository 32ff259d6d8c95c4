// Package metrics exports the state of an xdpvs daemon (server.Server.Observe) to Prometheus as
// xdpvs_* metrics. It is apart from mgmt/server because the Prometheus client reaches the kernel
// interfaces (procfs, x/sys/unix), which the other mgmt packages must not.
package metrics

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// Prometheus metrics, collected from the dataplane at every scrape (Control.Stats reads what the
// workers last published, at most about 100 ms old, and never waits for one) and from the management plane's estimators and health
// checks. Counters are the dataplane's own: -Z does not reset them.

var (
	svcLabels = []string{"protocol", "vip", "port"}
	rsLabels  = []string{"protocol", "vip", "port", "server", "server_port"}
	wkLabels  = []string{"worker", "queue"}
)

func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc("xdpvs_"+name, help, append(append([]string(nil), labels...), extra...), nil)
}

type trafficDescs struct {
	conns, pkts, bytes                 *prometheus.Desc
	cps, pps, bps                      *prometheus.Desc
	active, inactive, persistent       *prometheus.Desc
	weight, effWeight, up, synTimeouts *prometheus.Desc
	checks, transitions                *prometheus.Desc
}

func newTrafficDescs(sub string, labels []string) trafficDescs {
	what := map[string]string{"service": "virtual service", "real_server": "real server"}[sub]
	d := trafficDescs{
		conns: desc(sub+"_connections_total", "Connections scheduled to the "+what+".", labels),
		pkts:  desc(sub+"_packets_total", "Packets of the "+what+"'s connections, by direction (in: from clients).", labels, "direction"),
		bytes: desc(sub+"_bytes_total", "Bytes of the "+what+"'s connections, by direction.", labels, "direction"),
		cps:   desc(sub+"_connections_per_second", "New connections per second (IPVS estimator: 2 s samples, EWMA 1/4).", labels),
		pps:   desc(sub+"_packets_per_second", "Packets per second by direction (IPVS estimator).", labels, "direction"),
		bps:   desc(sub+"_bytes_per_second", "Bytes per second by direction (IPVS estimator).", labels, "direction"),
	}
	if sub == "real_server" {
		d.active = desc(sub+"_active_connections", "Established connections (ipvsadm ActiveConn).", labels)
		d.inactive = desc(sub+"_inactive_connections", "Connections in other states (ipvsadm InActConn).", labels)
		d.persistent = desc(sub+"_persistent_connections", "Persistence templates.", labels)
		d.weight = desc(sub+"_weight", "Configured weight.", labels)
		d.effWeight = desc(sub+"_effective_weight", "Weight in the dataplane after health checks (0: quiesced or removed).", labels)
		d.up = desc(sub+"_up", "1 if the real server is up (or unchecked), 0 if its health check failed.", labels)
		d.synTimeouts = desc(sub+"_syn_timeouts_total", "Connections that timed out waiting for the server's SYN/ACK.", labels)
		d.checks = desc(sub+"_health_checks_total", "Health checks run, by result.", labels, "result")
		d.transitions = desc(sub+"_health_transitions_total", "Health state changes.", labels)
	}
	return d
}

type metricsCollector struct {
	s        *server.Server
	svc, rs  trafficDescs
	sorry    *prometheus.Desc
	digest   *prometheus.Desc
	rx, tx   *prometheus.Desc
	hout     *prometheus.Desc
	hin      *prometheus.Desc
	wconns   *prometheus.Desc
	drops    *prometheus.Desc
	events   *prometheus.Desc
	sockets  *prometheus.Desc
	services *prometheus.Desc
	// the configuration file (server.ConfigStatus)
	saveFailures, savedAt, unsaved *prometheus.Desc
}

func newMetricsCollector(s *server.Server) *metricsCollector {
	return &metricsCollector{
		s:     s,
		svc:   newTrafficDescs("service", svcLabels),
		rs:    newTrafficDescs("real_server", rsLabels),
		sorry: desc("service_sorry_active", "1 while the service's sorry server takes the traffic.", svcLabels),
		digest: desc("service_table_digest_info", "1, labelled with the digest of the service's scheduler table as running (mh, sh, dh): "+
			"directors whose digests for a service agree pick the same real server for every flow.", svcLabels, "scheduler", "digest"),
		rx:       desc("worker_rx_packets_total", "Packets received by the worker.", wkLabels),
		tx:       desc("worker_tx_packets_total", "Packets sent by the worker.", wkLabels),
		hout:     desc("worker_handoffs_out_total", "Packets handed to the worker owning their connection.", wkLabels),
		hin:      desc("worker_handoffs_in_total", "Packets received from other workers.", wkLabels),
		wconns:   desc("worker_connections", "Entries in the worker's connection table.", wkLabels),
		drops:    desc("worker_drops_total", "Packets dropped by the worker, by reason.", wkLabels, "reason"),
		events:   desc("worker_events_total", "What the worker did besides forwarding and dropping: connections reopened, TOA insertions, the SYN proxy's steps and failures, ...", wkLabels, "event"),
		sockets:  desc("worker_socket_statistics_total", "AF_XDP socket statistics (XDP_STATISTICS) of the worker's queue, per interface.", wkLabels, "interface", "statistic"),
		services: desc("services", "Configured virtual services.", nil),
		saveFailures: desc("config_save_failures_total", "Writes of the configuration file that failed: changes refused "+
			"because they could not be saved, and previous files not put back after the dataplane refused a change.", nil),
		savedAt: desc("config_last_save_timestamp_seconds", "When the configuration file was last written (or modified, "+
			"for the file loaded at start).", nil),
		unsaved: desc("config_unsaved", "1 while the configuration file does not hold the running configuration: "+
			"a restart would load another one (xdpvsadm show config says why).", nil),
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []trafficDescs{c.svc, c.rs} {
		for _, x := range []*prometheus.Desc{d.conns, d.pkts, d.bytes, d.cps, d.pps, d.bps, d.active, d.inactive,
			d.persistent, d.weight, d.effWeight, d.up, d.synTimeouts, d.checks, d.transitions} {
			if x != nil {
				ch <- x
			}
		}
	}
	for _, x := range []*prometheus.Desc{c.sorry, c.digest, c.rx, c.tx, c.hout, c.hin, c.wconns, c.drops, c.events, c.sockets, c.services,
		c.saveFailures, c.savedAt, c.unsaved} {
		ch <- x
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	st, ds := c.s.Observe()
	e := emitter{ch}
	raw := map[control.ServiceKey]*control.ServiceStats{}
	if ds != nil {
		for i := range ds.Services {
			raw[ds.Services[i].Key] = &ds.Services[i]
		}
	}
	e.gauge(c.services, float64(len(st.Services)))
	c.collectConfig(e)
	for i := range st.Services {
		ss := &st.Services[i]
		c.collectService(e, ss, raw[ss.DataplaneKey()])
	}
	if ds == nil {
		return
	}
	for i := range ds.Workers {
		c.collectWorker(e, &ds.Workers[i])
	}
}

// collectService emits a service's metrics and its real servers'; rs is the dataplane's raw
// counters of the service (nil: none yet).
func (c *metricsCollector) collectService(e emitter, ss *api.ServiceState, rs *control.ServiceStats) {
	sl := []string{ss.Protocol.String(), ss.Address.String(), strconv.Itoa(int(ss.Port))}
	if ss.FWMark != 0 { // a fwmark service: protocol "FWM", its mark as the port, the family's address
		sl = []string{"FWM", ss.Address.String(), strconv.FormatUint(uint64(ss.FWMark), 10)}
	}
	var cnt control.Counters
	if rs != nil {
		cnt = rs.Counters
	}
	e.traffic(&c.svc, cnt, ss.Rate, sl)
	if ss.Health != nil && ss.Health.Sorry.IsValid() {
		e.gauge(c.sorry, b2f(ss.SorryActive), sl...)
	}
	if ss.TableDigest != "" {
		e.gauge(c.digest, 1, append(append([]string(nil), sl...), ss.Scheduler, ss.TableDigest)...)
	}
	for j := range ss.RealServers {
		d := &ss.RealServers[j]
		l := append(append([]string(nil), sl...), d.Address.String(), strconv.Itoa(int(d.Port)))
		var r *control.RealServerStats
		if rs != nil {
			for k := range rs.RealServers {
				if rs.RealServers[k].Addr == d.Address && rs.RealServers[k].Port == d.Port {
					r = &rs.RealServers[k]
				}
			}
		}
		c.collectRealServer(e, d, r, l)
	}
}

// collectRealServer emits a real server's metrics; r is its raw counters (nil: none yet).
func (c *metricsCollector) collectRealServer(e emitter, d *api.RealServerState, r *control.RealServerStats, l []string) {
	var rc control.Counters
	var syn uint64
	if r != nil {
		rc, syn = r.Counters, r.SynTimeouts
	}
	e.traffic(&c.rs, rc, d.Rate, l)
	e.gauge(c.rs.active, float64(d.ActiveConns), l...)
	e.gauge(c.rs.inactive, float64(d.InactiveConns), l...)
	e.gauge(c.rs.persistent, float64(d.PersistentConns), l...)
	e.counter(c.rs.synTimeouts, syn, l...)
	e.gauge(c.rs.weight, float64(d.Weight), l...)
	eff, up := d.Weight, true
	if d.Health != nil {
		eff, up = d.Health.Weight, d.Health.Up
		e.counter(c.rs.transitions, d.Health.Transitions, l...)
		e.counter(c.rs.checks, d.Health.Checks-d.Health.Failed, append(l, "success")...)
		e.counter(c.rs.checks, d.Health.Failed, append(l, "failure")...)
	}
	e.gauge(c.rs.effWeight, float64(eff), l...)
	e.gauge(c.rs.up, b2f(up), l...)
}

// collectConfig emits the state of the configuration file; without one, only its failures (0).
func (c *metricsCollector) collectConfig(e emitter) {
	cs := c.s.ConfigStatus()
	e.counter(c.saveFailures, cs.SaveFailures)
	if cs.Path == "" {
		return
	}
	if !cs.Saved.IsZero() {
		e.gauge(c.savedAt, float64(cs.Saved.UnixNano())/1e9)
	}
	e.gauge(c.unsaved, b2f(cs.Differs))
}

// collectWorker emits a worker's counters.
func (c *metricsCollector) collectWorker(e emitter, w *control.WorkerStats) {
	l := []string{strconv.Itoa(w.ID), strconv.Itoa(w.Queue)}
	e.counter(c.rx, w.RXPackets, l...)
	e.counter(c.tx, w.TXPackets, l...)
	e.counter(c.hout, w.HandoffsOut, l...)
	e.counter(c.hin, w.HandoffsIn, l...)
	e.gauge(c.wconns, float64(w.Conns), l...)
	for _, d := range w.Drops {
		e.counter(c.drops, d.Count, append(l, d.Name)...)
	}
	for _, ev := range w.Events {
		e.counter(c.events, ev.Count, append(l, ev.Name)...)
	}
	for _, sk := range w.Sockets {
		iface, stat, ok := strings.Cut(sk.Name, "/")
		if !ok {
			iface, stat = "", sk.Name
		}
		e.counter(c.sockets, sk.Count, append(l, iface, stat)...)
	}
}

// emitter sends constant metrics to a collection.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v uint64, l ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, l ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
}

// traffic emits the counters and rates of a service or a real server.
func (e emitter) traffic(d *trafficDescs, cnt control.Counters, r api.Rates, l []string) {
	e.counter(d.conns, cnt.Conns, l...)
	e.counter(d.pkts, cnt.InPkts, append(l, "in")...)
	e.counter(d.pkts, cnt.OutPkts, append(l, "out")...)
	e.counter(d.bytes, cnt.InBytes, append(l, "in")...)
	e.counter(d.bytes, cnt.OutBytes, append(l, "out")...)
	e.gauge(d.cps, float64(r.CPS), l...)
	e.gauge(d.pps, float64(r.InPPS), append(l, "in")...)
	e.gauge(d.pps, float64(r.OutPPS), append(l, "out")...)
	e.gauge(d.bps, float64(r.InBPS), append(l, "in")...)
	e.gauge(d.bps, float64(r.OutBPS), append(l, "out")...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewHandler serves the daemon's metrics (and the Go runtime's and the process's) in Prometheus's
// text format, for `xdpvsd --metrics ADDR`. Every scrape reads the dataplane's counters afresh.
func NewHandler(s *server.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetricsCollector(s), newBGPCollector(s), newSyncCollector(s), newHACollector(s), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zapErrorLog{s}, MaxRequestsInFlight: 4})
}

type zapErrorLog struct{ s *server.Server }

func (z zapErrorLog) Println(v ...any) {
	z.s.Logger().Sugar().Warnln(append([]any{"metrics:"}, v...)...)
}
