package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/server"
	"github.com/xdpvs/xdpvs/sched"
)

type fakeControl struct {
	mu    sync.Mutex
	stats *control.Stats
}

func (f *fakeControl) Apply(*control.Snapshot) error { return nil }
func (f *fakeControl) Stats() *control.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}
func (f *fakeControl) Connections(func([]control.ConnInfo) bool) error { return nil }
func (f *fakeControl) AddAddress(string, netip.Addr) (bool, error) {
	return false, errors.New("no interface")
}
func (f *fakeControl) RemoveAddress(string, netip.Addr) error { return nil }

func newTestServer(t *testing.T, fc *fakeControl) *server.Server {
	t.Helper()
	s, _ := newTestServerSocket(t, fc)
	return s
}

// newTestServerSocket is newTestServer, and its socket.
func newTestServerSocket(t *testing.T, fc *fakeControl) (*server.Server, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "x.sock")
	s, err := server.New(server.Config{Control: fc, Logger: zaptest.NewLogger(t), SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, l := range []string{
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 4",
		"-A -u [2001:2::10]:53 -s rr",
		"-a -u [2001:2::10]:53 -r [2001:2:0:1::2]:5353 -m",
	} {
		if rc := cli.Admin(cli.Env{}, append([]string{"--socket", sock}, strings.Fields(l)...)); rc != 0 {
			t.Fatalf("%s: rc %d", l, rc)
		}
	}
	return s, sock
}

// TestScrape: a scrape carries the dataplane's counters per service, real server and worker,
// with Prometheus's naming rules kept (testutil's linter).
func TestScrape(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.10")
	fc := &fakeControl{stats: &control.Stats{
		Services: []control.ServiceStats{{
			Key:      control.ServiceKey{Proto: 6, Addr: vip, Port: 80},
			Counters: control.Counters{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 6000, OutBytes: 90000},
			RealServers: []control.RealServerStats{{Addr: netip.MustParseAddr("198.18.1.2"), Port: 8080,
				Counters:    control.Counters{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 6000, OutBytes: 90000},
				ActiveConns: 3, InactiveConns: 2, SynTimeouts: 1}},
		}},
		Workers: []control.WorkerStats{{ID: 0, Queue: 0, CPU: 1, RXPackets: 190, TXPackets: 188, HandoffsOut: 5, HandoffsIn: 4, Conns: 5,
			Drops:   []control.NamedCount{{Name: "no_service", Count: 2}, {Name: "bad_header", Count: 0}},
			Events:  []control.NamedCount{{Name: "synproxy_syn_answered", Count: 42}},
			Sockets: []control.NamedCount{{Name: "d0/rx_dropped", Count: 7}}}},
	}}
	s := newTestServer(t, fc)
	if problems, err := testutil.CollectAndLint(newMetricsCollector(s)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`xdpvs_services 2`,
		`xdpvs_service_connections_total{port="80",protocol="TCP",vip="198.18.0.10"} 10`,
		`xdpvs_service_packets_total{direction="out",port="80",protocol="TCP",vip="198.18.0.10"} 90`,
		`xdpvs_service_bytes_total{direction="in",port="80",protocol="TCP",vip="198.18.0.10"} 6000`,
		`xdpvs_service_connections_per_second{port="80",protocol="TCP",vip="198.18.0.10"} 0`,
		`xdpvs_real_server_active_connections{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 3`,
		`xdpvs_real_server_inactive_connections{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 2`,
		`xdpvs_real_server_weight{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 4`,
		`xdpvs_real_server_effective_weight{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 4`,
		`xdpvs_real_server_up{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 1`,
		`xdpvs_real_server_syn_timeouts_total{port="80",protocol="TCP",server="198.18.1.2",server_port="8080",vip="198.18.0.10"} 1`,
		`xdpvs_real_server_connections_total{port="53",protocol="UDP",server="2001:2:0:1::2",server_port="5353",vip="2001:2::10"} 0`,
		`xdpvs_worker_rx_packets_total{queue="0",worker="0"} 190`,
		`xdpvs_worker_tx_packets_total{queue="0",worker="0"} 188`,
		`xdpvs_worker_handoffs_out_total{queue="0",worker="0"} 5`,
		`xdpvs_worker_handoffs_in_total{queue="0",worker="0"} 4`,
		`xdpvs_worker_connections{queue="0",worker="0"} 5`,
		`xdpvs_worker_drops_total{queue="0",reason="no_service",worker="0"} 2`,
		`xdpvs_worker_drops_total{queue="0",reason="bad_header",worker="0"} 0`,
		`xdpvs_worker_events_total{event="synproxy_syn_answered",queue="0",worker="0"} 42`,
		`xdpvs_worker_socket_statistics_total{interface="d0",queue="0",statistic="rx_dropped",worker="0"} 7`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// TestScrapeConfig: a change that could not be saved is counted, and the file's state is there.
func TestScrapeConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "x.sock")
	s, err := server.New(server.Config{Control: &fakeControl{}, Logger: zaptest.NewLogger(t), SocketPath: sock,
		ConfigPath: filepath.Join(dir, "missing", "xdpvs.conf")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if rc := cli.Admin(cli.Env{}, []string{"--socket", sock, "-A", "-t", "198.18.0.10:80"}); rc != 1 {
		t.Fatalf("an unsaved change: rc %d", rc)
	}
	if problems, err := testutil.CollectAndLint(newMetricsCollector(s)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"\nxdpvs_config_save_failures_total 1\n", "\nxdpvs_config_unsaved 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "xdpvs_config_last_save_timestamp_seconds ") {
		t.Error("a save time, and nothing was saved")
	}
}

// fakeAnnouncer is a fixed `show bgp`.
type fakeAnnouncer struct{ st api.BGPState }

func (f *fakeAnnouncer) BGP() *api.BGPState { st := f.st; return &st }
func (f *fakeAnnouncer) Drain(bool)         {}
func (f *fakeAnnouncer) Poke()              {}

// TestScrapeBGP: the sessions and prefixes of show bgp are metrics (and none without BGP).
func TestScrapeBGP(t *testing.T) {
	fa := &fakeAnnouncer{st: api.BGPState{AS: 65010, Announcing: true, Announcements: 3, Withdrawals: 1,
		Peers: []api.BGPPeer{{Address: netip.MustParseAddr("198.18.0.254"), AS: 65000, State: "established", Since: time.Now().Add(-time.Minute), Advertised: 2}},
		Prefixes: []api.BGPPrefix{
			{Prefix: netip.MustParsePrefix("198.18.0.10/32"), Kind: "vip", Announced: true, Announcements: 2, Withdrawals: 1},
			{Prefix: netip.MustParsePrefix("2001:2::10/128"), Kind: "vip", Announcements: 1, Withdrawals: 1},
		}}}
	sock := filepath.Join(t.TempDir(), "x.sock")
	s, err := server.New(server.Config{Control: &fakeControl{}, Logger: zaptest.NewLogger(t), SocketPath: sock, Announcer: fa})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if problems, err := testutil.CollectAndLint(newBGPCollector(s)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"\nxdpvs_bgp_announcing 1\n", "\nxdpvs_bgp_announcements_total 3\n",
		`xdpvs_bgp_peer_up{peer="198.18.0.254",peer_as="65000"} 1`, `xdpvs_bgp_peer_advertised_prefixes{peer="198.18.0.254",peer_as="65000"} 2`,
		`xdpvs_bgp_prefix_announced{kind="vip",prefix="198.18.0.10/32"} 1`, `xdpvs_bgp_prefix_announced{kind="vip",prefix="2001:2::10/128"} 0`,
		`xdpvs_bgp_prefix_withdrawals_total{kind="vip",prefix="2001:2::10/128"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	plain := newTestServer(t, &fakeControl{})
	rec = httptest.NewRecorder()
	NewHandler(plain).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "xdpvs_bgp_") {
		t.Error("BGP metrics without BGP")
	}
}

// TestScrapeDigest: a service with a consistent scheduler carries the digest of its table, the
// one sched computes for its real servers; one without (rr) has none.
func TestScrapeDigest(t *testing.T) {
	s, sock := newTestServerSocket(t, &fakeControl{stats: &control.Stats{}})
	for _, l := range []string{"-A -t 198.18.0.10:81 -s mh -b mh-port", "-a -t 198.18.0.10:81 -r 198.18.1.2:81 -g -w 2"} {
		if rc := cli.Admin(cli.Env{}, append([]string{"--socket", sock}, strings.Fields(l)...)); rc != 0 {
			t.Fatalf("%s: rc %d", l, rc)
		}
	}
	cfg := sched.Config{Dests: []sched.Dest{{Weight: 2, Addr: header.AddrFromNetip(netip.MustParseAddr("198.18.1.2")), Port: 81}}, Flags: sched.FlagPort}
	f, _ := sched.Lookup("mh")
	d, _ := sched.DigestOf("mh", f(cfg), cfg)
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	want := `xdpvs_service_table_digest_info{digest="` + d.String() + `",port="81",protocol="TCP",scheduler="mh",vip="198.18.0.10"} 1`
	if !strings.Contains(body, want) || strings.Count(body, "xdpvs_service_table_digest_info{") != 1 {
		t.Fatalf("scrape lacks %s, or has another digest:\n%s", want, body)
	}
}

// TestScrapeFWMark: fwmark services are labelled protocol "FWM", their mark as the port and
// their family's unspecified address as the VIP, so that two marks are two series.
func TestScrapeFWMark(t *testing.T) {
	s, sock := newTestServerSocket(t, &fakeControl{})
	for _, l := range []string{"-A -f 1 -s rr", "-a -f 1 -r 198.18.1.2 -g", "-A -f 2 -s rr", "-A -f 2 -6 -s rr"} {
		if rc := cli.Admin(cli.Env{}, append([]string{"--socket", sock}, strings.Fields(l)...)); rc != 0 {
			t.Fatalf("%s: rc %d", l, rc)
		}
	}
	if problems, err := testutil.CollectAndLint(newMetricsCollector(s)); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`xdpvs_service_connections_total{port="1",protocol="FWM",vip="0.0.0.0"} 0`,
		`xdpvs_service_connections_total{port="2",protocol="FWM",vip="0.0.0.0"} 0`,
		`xdpvs_service_connections_total{port="2",protocol="FWM",vip="::"} 0`,
		`xdpvs_real_server_weight{port="1",protocol="FWM",server="198.18.1.2",server_port="0",vip="0.0.0.0"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// TestScrapeHA: the role, its changes, forwarding and readiness of show ha are metrics.
func TestScrapeHA(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "x.sock")
	s, err := server.New(server.Config{Control: &fakeControl{}, Logger: zaptest.NewLogger(t), SocketPath: sock,
		HA: &server.HAConfig{Role: api.HABackup}, Readiness: []server.Readiness{server.ReadinessFunc(func() error { return errors.New("syncing") })}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if problems, err := testutil.CollectAndLint(newHACollector(s)); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	rec := httptest.NewRecorder()
	NewHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`xdpvs_ha_role{role="backup"} 1`, `xdpvs_ha_role{role="master"} 0`, "\nxdpvs_ha_forwarding 0\n",
		"\nxdpvs_ha_ready 0\n", "\nxdpvs_ha_transitions_total 0\n", "\nxdpvs_ha_role_since_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
