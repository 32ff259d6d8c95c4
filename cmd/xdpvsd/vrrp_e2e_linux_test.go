package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/mgmt/api"
)

// The VRRP pair's services: NAT on the VIP's port 80, FULLNAT (through the local address
// keepalived moves) on 8080, both to the two real servers.
const (
	vrrpNAT     = topo.VRRPVIP4 + ":80"
	vrrpFullNAT = topo.VRRPVIP4 + ":8080"
)

// vrrpEnv is an active/standby pair: xdpvsd --ha and keepalived (docs/active-standby.md's
// configuration) on each director.
type vrrpEnv struct {
	t    *testing.T
	v    *topo.VRRP
	ds   []*topo.Daemon
	ks   []*topo.Keepalived
	adm  string
	sync bool // the directors run the connection sync (vrrpSync)
	// m is the director keepalived made master at start, b the other. Director 0 has the higher
	// priority, but one that is not ready (its sync's bulk copy not done) starts in FAULT and
	// leaves the election to the other (nopreempt).
	m, b int
}

// vrrpKeepalivedConf is docs/active-standby.md's keepalived.conf for director i of the layout: the
// block as the document gives it, with the layout's interfaces, the test's xdpvsadm and socket,
// and director B's priority and router_id; advert, if set, replaces advert_int 1 (VRRPv3 for
// intervals under a second: measurements only).
func vrrpKeepalivedConf(t *testing.T, i int, adm, socket, advert string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/active-standby.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- keepalived.conf: the test reads the block below -->\n```\n")
	conf, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/active-standby.md: no keepalived.conf block")
	}
	r := strings.NewReplacer("eth0", "d0", "eth1", "d1", "/usr/local/sbin/xdpvsadm", adm+" --socket "+socket)
	conf = r.Replace(conf)
	if i == 1 {
		conf = strings.NewReplacer("priority 150", "priority 100", "router_id xdpvs-a", "router_id xdpvs-b").Replace(conf)
	}
	if advert != "" {
		conf = strings.NewReplacer("advert_int 1\n", "advert_int "+advert+"\n", "global_defs {\n", "global_defs {\n    vrrp_version 3\n").Replace(conf)
	}
	return conf
}

// vrrpSync tells whether the directors run with the connection sync (issue 15 items 1-4): when
// xdpvsd has --sync-peer, or as XDPVS_VRRP_SYNC says (1 or 0). With it, the test asserts that the
// established connections survive the master's death; without, that they break (and how).
func vrrpSync(t *testing.T, xdpvsd string) bool {
	switch os.Getenv("XDPVS_VRRP_SYNC") {
	case "1":
		return true
	case "0":
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, xdpvsd, "-h").CombinedOutput()
	return strings.Contains(string(out), "-sync-peer")
}

// newVRRPEnv builds the pair, configures both directors alike, starts keepalived on both (with
// advert as vrrpKeepalivedConf's) and waits until one is master (director 0, the higher priority,
// unless it was not ready first) and both services answer.
func newVRRPEnv(t *testing.T, name, advert string) *vrrpEnv {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived is not installed (make deps installs it)")
	}
	b := binaries(t)
	v, err := topo.NewVRRP(topo.Prefix(name), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, v)
	e := &vrrpEnv{t: t, v: v, sync: vrrpSync(t, b.xdpvsd)}
	// keepalived's enable_script_security: the program it runs, and every directory above it,
	// root's alone.
	safe, err := os.MkdirTemp("/run", "xdpvs-vrrp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(safe) })
	e.adm = filepath.Join(safe, "xdpvsadm")
	if err := copyFile(b.adm, e.adm); err != nil {
		t.Fatal(err)
	}
	for i := range v.RS {
		for _, port := range []uint16{80, 8080} {
			s, err := topo.ServeHTTP(v.RS[i], netip.AddrPortFrom(netip.MustParseAddr(topo.VRRPRS4(i)), port), fmt.Sprintf("rs%d", i))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
		}
	}
	key := filepath.Join(t.TempDir(), "sync.key")
	if e.sync {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if err := os.WriteFile(key, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range v.Dirs {
		e.ds = append(e.ds, e.startDirector(i, b.xdpvsd, key))
	}
	for i := range v.Dirs {
		dir := t.TempDir()
		conf := vrrpKeepalivedConf(t, i, e.adm, e.ds[i].Socket, advert)
		// keepalived's own check of the document's configuration, where its interfaces exist.
		check := filepath.Join(dir, "check.conf")
		if err := os.WriteFile(check, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := v.Dirs[i].Exec("keepalived", "--config-test", "-f", check); err != nil {
			t.Fatalf("keepalived --config-test of docs/active-standby.md's configuration: %v\n%s", err, out)
		}
		k, err := topo.StartKeepalived(v.Dirs[i], dir, conf)
		if err != nil {
			t.Fatal(err)
		}
		e.ks = append(e.ks, k)
		t.Cleanup(func() {
			k.Stop()
			if t.Failed() {
				t.Logf("director %d keepalived:\n%s", i, k.Log)
			}
		})
	}
	e.m, e.b = e.elected(30 * time.Second)
	c := topo.HTTPClient(v.Client, false)
	c.Timeout = 2 * time.Second
	for _, svc := range []string{vrrpNAT, vrrpFullNAT} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _, err := topo.Get(c, "http://"+svc+"/")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s through the master: %v", svc, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return e
}

// startDirector runs director i's daemon with --ha, keeps its kernel from answering for the
// moving addresses (the document's nftables rules) and configures the services.
func (e *vrrpEnv) startDirector(i int, bin, key string) *topo.Daemon {
	t := e.t
	t.Helper()
	ns := e.v.Dirs[i]
	for _, rule := range [][]string{
		{"nft", "add", "table", "inet", "xdpvs"},
		{"nft", "add", "chain", "inet", "xdpvs", "input", "{ type filter hook input priority 0; }"},
		{"nft", "add", "rule", "inet", "xdpvs", "input", "ip", "daddr", topo.VRRPVIP4, "meta", "l4proto", "{ tcp, udp }", "drop"},
		{"nft", "add", "rule", "inet", "xdpvs", "input", "ip", "daddr", topo.VRRPLocal4, "meta", "l4proto", "{ tcp, udp }", "drop"},
	} {
		if out, err := ns.Exec(rule...); err != nil {
			t.Fatalf("%v: %v %s", rule, err, out)
		}
	}
	args := []string{"--workers", "1", "--ha"}
	if e.sync {
		args = append(args, "--sync-key", key, "--sync-listen", topo.VRRPDirRS4(i), "--sync-peer", topo.VRRPDirRS4(1-i))
	}
	d, err := topo.StartDaemon(ns, bin, t.TempDir(), []string{"d0", "d1"}, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("director %d log:\n%s", i, d.Log)
		}
		_ = d.Stop()
	})
	for _, l := range []string{
		"-A -t " + vrrpNAT + " -s rr",
		"-a -t " + vrrpNAT + " -r " + topo.VRRPRS4(0) + ":80 -m",
		"-a -t " + vrrpNAT + " -r " + topo.VRRPRS4(1) + ":80 -m",
		"-A -t " + vrrpFullNAT + " -s rr",
		"-a -t " + vrrpFullNAT + " -r " + topo.VRRPRS4(0) + ":8080 -b",
		"-a -t " + vrrpFullNAT + " -r " + topo.VRRPRS4(1) + ":8080 -b",
		"--add-laddr -z " + topo.VRRPLocal4 + " -t " + vrrpFullNAT,
	} {
		mustAdm(t, d, e.adm, strings.Fields(l)...)
	}
	if h := haOf(t, d, e.adm); h.Role != api.HABackup || h.Forwarding {
		t.Fatalf("director %d at start, without its addresses: %+v, want backup on standby", i, h)
	}
	return d
}

// ha is director i's show ha.
func (e *vrrpEnv) ha(i int) api.HAState {
	e.t.Helper()
	return haOf(e.t, e.ds[i], e.adm)
}

// haOf is d's show ha.
func haOf(t *testing.T, d *topo.Daemon, adm string) api.HAState {
	t.Helper()
	var js struct{ HA api.HAState }
	out, err := d.Adm(adm, "show", "ha", "-o", "json")
	if err == nil {
		err = json.Unmarshal([]byte(out), &js)
	}
	if err != nil {
		t.Fatalf("show ha: %v", err)
	}
	return js.HA
}

// elected waits until one director is master and the other backup, and returns them.
func (e *vrrpEnv) elected(within time.Duration) (master, backup int) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		h0, h1 := e.ha(0), e.ha(1)
		switch {
		case h0.Role == api.HAMaster && h1.Role == api.HABackup:
			return 0, 1
		case h1.Role == api.HAMaster && h0.Role == api.HABackup:
			return 1, 0
		case time.Now().After(deadline):
			e.t.Fatalf("no master and backup after %v: %+v\n%+v", within, h0, h1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRole waits until director i has role; it returns when it took it.
func (e *vrrpEnv) waitRole(i int, role string, within time.Duration) time.Time {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := e.ha(i)
		if h.Role == role {
			return h.Since
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("director %d: role %s after %v, want %s (%+v)", i, h.Role, within, role, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drops is director i's drop counter of reason.
func (e *vrrpEnv) drops(i int, reason string) uint64 {
	e.t.Helper()
	var js struct{ Workers []api.WorkerStats }
	out, err := e.ds[i].Adm(e.adm, "show", "drops", "-o", "json")
	if err == nil {
		err = json.Unmarshal([]byte(out), &js)
	}
	if err != nil {
		e.t.Fatalf("director %d: show drops: %v", i, err)
	}
	var n uint64
	for _, w := range js.Workers {
		for _, d := range w.Drops {
			if d.Name == reason {
				n += d.Count
			}
		}
	}
	return n
}

// backupForwardsNothing sends the client's connections to the backup (as a stale ARP entry
// would): none is answered, and the backup counts their packets as standby. Then the client
// resolves the VIP again and reaches the master.
func (e *vrrpEnv) backupForwardsNothing(c *http.Client) {
	t := e.t
	t.Helper()
	out, err := e.v.Dirs[e.b].Exec("cat", "/sys/class/net/d0/address")
	if err != nil {
		t.Fatal(err)
	}
	mac := strings.TrimSpace(out)
	before := e.drops(e.b, "standby")
	if _, err := e.v.Client.Exec("ip", "neigh", "replace", topo.VRRPVIP4, "lladdr", mac, "dev", "c0", "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{vrrpNAT, vrrpFullNAT} {
		if _, _, err := topo.Get(c, "http://"+svc+"/"); err == nil {
			t.Errorf("%s through the backup: answered", svc)
		}
	}
	if d := e.drops(e.b, "standby"); d <= before {
		t.Errorf("backup's standby drops %d after the client's SYNs, were %d", d, before)
	}
	if _, err := e.v.Client.Exec("ip", "neigh", "del", topo.VRRPVIP4, "dev", "c0"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, svc := range []string{vrrpNAT, vrrpFullNAT} {
		for {
			_, _, err := topo.Get(c, "http://"+svc+"/")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s through the master again: %v", svc, err)
			}
		}
	}
}

// slowClient is an HTTP client in ns whose connections have a small receive buffer, so that a
// download paced by its reader stays in flight on the wire, not in the client's kernel.
func slowClient(ns *netns.NS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
				return errors.Join(err, serr)
			}}
			c, err = d.DialContext(ctx, network, addr)
			return
		})
		return c, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// pacedDownload fetches n bytes of topo.Data(seed) from url at about rate bytes/s until ctx ends,
// and checks their SHA-256. It returns the longest wait for a read.
func pacedDownload(ctx context.Context, c *http.Client, url string, seed uint64, n int64, rate int) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/data?n=%d&seed=%d", url, n, seed), nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	buf := make([]byte, 32<<10)
	start := time.Now()
	var got int64
	var stall time.Duration
	for {
		before := time.Now()
		k, err := resp.Body.Read(buf)
		stall = max(stall, time.Since(before))
		h.Write(buf[:k])
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return stall, fmt.Errorf("after %d bytes: %w", got, err)
		}
		if ahead := time.Duration(float64(got)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); got != n || sum != topo.DataSHA256(seed, n) {
		return stall, fmt.Errorf("%d bytes, SHA-256 %s: not the data sent", got, sum)
	}
	return stall, nil
}

// probe opens a new connection to url every interval until stop, each in its own goroutine (a
// probe that waits for its timeout does not delay the next), and records when each started and
// whether it succeeded.
type probe struct {
	mu  sync.Mutex
	wg  sync.WaitGroup
	ats []time.Time
	oks []bool
}

func (p *probe) run(c *http.Client, url string, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			at := time.Now()
			_, _, err := topo.Get(c, url)
			p.mu.Lock()
			p.ats, p.oks = append(p.ats, at), append(p.oks, err == nil)
			p.mu.Unlock()
		}()
		select {
		case <-stop:
			p.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// outage is the time from t0 to the start of the first probe started after it that succeeded,
// and when the probes that started later and failed started (from t0).
func (p *probe) outage(t0 time.Time) (time.Duration, []time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for i, at := range p.ats {
		if p.oks[i] && at.After(t0) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	var late []time.Duration
	for i, at := range p.ats {
		if !p.oks[i] && !first.IsZero() && at.After(first) {
			late = append(late, at.Sub(t0).Round(10*time.Millisecond))
		}
	}
	slices.Sort(late)
	return first.Sub(t0), late, !first.IsZero()
}

// TestVRRPFailover: keepalived's VRRP moves the VIP, the real servers' gateway and the FULLNAT
// local address as one sync group between two directors running xdpvsd --ha. The backup
// forwards nothing: a client sent to it (a stale ARP entry) is not answered, its packets counted
// as standby. Then the master is
// killed (SIGKILL of keepalived, then of xdpvsd) during downloads through a NAT and a FULLNAT
// service. The backup becomes master within RFC 5798's 3 × advert_int + skew (3.6 s) and a
// little, and new connections to both services work again; the downloads either complete with the
// right SHA-256 or stall (never wrong data, never a reset). Without the connection sync they stall:
// the survivor has no entry for their segments (no_conn), NAT and FULLNAT alike; with it
// (vrrpSync) every one must complete.
func TestVRRPFailover(t *testing.T) { vrrpFailover(t, "vrrp", "", false) }

// TestVRRPFailoverMeasure repeats the failover three times each way, for bench/results/ha.md:
// the whole master killed with advert_int 1 and 0.2 (VRRPv3), and xdpvsd alone killed (keepalived
// sees its track script fail, goes to FAULT and hands over at once). It runs only with
// XDPVS_HA_MEASURE=1 (about five minutes):
//
//	XDPVS_HA_MEASURE=1 go test -count=1 -v -run TestVRRPFailoverMeasure ./cmd/xdpvsd/
func TestVRRPFailoverMeasure(t *testing.T) {
	if os.Getenv("XDPVS_HA_MEASURE") == "" {
		t.Skip("a measurement: XDPVS_HA_MEASURE=1 to run it")
	}
	for _, tc := range []struct {
		name, advert string
		daemonOnly   bool
	}{{"both-advert1", "", false}, {"both-advert0.2", "0.2", false}, {"daemon-advert1", "", true}} {
		for run := range 3 {
			t.Run(fmt.Sprintf("%s/%d", tc.name, run), func(t *testing.T) { vrrpFailover(t, "vrrpm", tc.advert, tc.daemonOnly) })
		}
	}
}

// vrrpFailover is TestVRRPFailover with keepalived's advert_int advert (vrrpKeepalivedConf), and
// with only the master's xdpvsd killed if daemonOnly.
func vrrpFailover(t *testing.T, name, advert string, daemonOnly bool) {
	e := newVRRPEnv(t, name, advert)
	const (
		perService = 4
		size       = 16 << 20
		rate       = 4 << 20 // bytes/s: 4 s a download, killed 1.5 s in
	)
	pc := topo.HTTPClient(e.v.Client, false)
	pc.Timeout = time.Second
	e.backupForwardsNothing(pc)
	dl := slowClient(e.v.Client)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		svc   string
		stall time.Duration
		err   error
	}
	results := make(chan result, 2*perService)
	for i := range 2 * perService {
		svc := []string{vrrpNAT, vrrpFullNAT}[i%2]
		go func() {
			stall, err := pacedDownload(ctx, dl, "http://"+svc, uint64(i), size, rate)
			results <- result{svc, stall, err}
		}()
	}
	stop := make(chan struct{})
	probes := map[string]*probe{vrrpNAT: {}, vrrpFullNAT: {}}
	var wg sync.WaitGroup
	for svc, p := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); p.run(pc, "http://"+svc+"/", 100*time.Millisecond, stop) }()
	}
	time.Sleep(1500 * time.Millisecond)

	standbyBefore := e.drops(e.b, "standby")
	t0 := time.Now() // the master dies: its daemon, then its keepalived
	_ = syscall.Kill(e.ds[e.m].PID(), syscall.SIGKILL)
	if !daemonOnly {
		if err := e.ks[e.m].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	since := e.waitRole(e.b, api.HAMaster, 15*time.Second)
	promoted := since.Sub(t0)
	time.Sleep(5 * time.Second) // the probes after the takeover
	close(stop)
	wg.Wait()

	// The downloads: 15 s after the failure at most (a surviving one resumes with its next
	// retransmission, 6.2 s after the loss with the doubling from 200 ms, or 12.6 s).
	timer := time.AfterFunc(time.Until(t0.Add(15*time.Second)), cancel)
	defer timer.Stop()
	completed := map[string]int{}
	var stall time.Duration // the longest of a download that completed
	for range 2 * perService {
		r := <-results
		switch {
		case r.err == nil:
			completed[r.svc]++
			stall = max(stall, r.stall)
		case strings.Contains(r.err.Error(), "not the data sent"):
			t.Errorf("%s: %v", r.svc, r.err)
		case strings.Contains(r.err.Error(), "reset"):
			t.Errorf("%s: reset: %v", r.svc, r.err)
		case !errors.Is(r.err, context.Canceled):
			t.Errorf("%s: %v (want a stall until the deadline)", r.svc, r.err)
		}
	}
	natOut, natLate, natOK := probes[vrrpNAT].outage(t0)
	fnOut, fnLate, fnOK := probes[vrrpFullNAT].outage(t0)
	if !natOK || !fnOK {
		t.Fatalf("new connections after the failover: NAT %v, FULLNAT %v", natOK, fnOK)
	}
	noConn := e.drops(e.b, "no_conn")
	rsts := tcpOutRsts(t, e.v.Dirs[e.m])
	// What reached the backup between the addresses' arrival and keepalived's notify script.
	window := e.drops(e.b, "standby") - standbyBefore
	t.Logf("RESULT vrrp failover (advert_int %s, sync %v, only xdpvsd killed %v): backup master %v after the kill; new connections back after %v (NAT; failed later: %v) and %v (FULLNAT; failed later: %v); downloads in flight completed: NAT %d/%d, FULLNAT %d/%d, their longest stall %v; survivor's no_conn drops %d, standby drops while it took over %d; resets from the dead master's kernel %d",
		cmp.Or(advert, "1"), e.sync, daemonOnly, promoted.Round(10*time.Millisecond), natOut.Round(10*time.Millisecond), natLate, fnOut.Round(10*time.Millisecond), fnLate,
		completed[vrrpNAT], perService, completed[vrrpFullNAT], perService, stall.Round(10*time.Millisecond), noConn, window, rsts)
	if rsts != 0 {
		t.Errorf("the dead master's kernel sent %d resets: the nftables rules should keep it from answering for the addresses it still holds", rsts)
	}
	// RFC 5798: the backup takes over 3 × 1 s + (256 − 100)/256 s after the last advertisement;
	// the rest is keepalived's notify script and a loaded machine.
	if promoted > 8*time.Second || natOut > 10*time.Second || fnOut > 10*time.Second {
		t.Errorf("failover too slow: promoted after %v, services back after %v and %v", promoted, natOut, fnOut)
	}
	// Master by the addresses' arrival (xdpvsd follows them) or by keepalived's notify script,
	// whichever came first.
	if h := e.ha(e.b); h.Transitions < 1 || !h.Forwarding ||
		!strings.Contains(h.Reason, "appeared on") && h.Reason != "xdpvsadm ha role master" {
		t.Errorf("survivor's show ha: %+v", h)
	} else {
		t.Logf("survivor master: %s", h.Reason)
	}
	if e.sync {
		if completed[vrrpNAT] != perService || completed[vrrpFullNAT] != perService {
			t.Errorf("with connection sync, downloads completed: NAT %d, FULLNAT %d of %d each", completed[vrrpNAT], completed[vrrpFullNAT], perService)
		}
		return
	}
	// Without the sync the survivor has no entry for the connections of the dead master: their
	// segments are dropped (no_conn) and they stall.
	if completed[vrrpNAT] != 0 || completed[vrrpFullNAT] != 0 || noConn == 0 {
		t.Errorf("without connection sync: downloads completed NAT %d, FULLNAT %d (want 0: the survivor has no state for them); no_conn %d",
			completed[vrrpNAT], completed[vrrpFullNAT], noConn)
	}
}

// tcpOutRsts is the kernel's count of TCP resets sent in ns (/proc/net/snmp, Tcp: OutRsts).
func tcpOutRsts(t *testing.T, ns *netns.NS) uint64 {
	t.Helper()
	out, err := ns.Exec("cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		if i := slices.Index(names, "OutRsts"); i > 0 && i < len(f) {
			var n uint64
			fmt.Sscan(f[i], &n)
			return n
		}
	}
	t.Fatalf("no Tcp OutRsts in /proc/net/snmp:\n%s", out)
	return 0
}

// copyFile copies the executable src to dst, mode 0755.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// TestHAStartRole: xdpvsd --ha starts on standby unless an address of its configuration is
// already on one of its interfaces (keepalived holds it: the daemon restarted under a master,
// which calls no notify script again). On the NAT layout, whose VIP is on d0, a daemon loading a
// service on the VIP is master at once and serves it; with the VIP off d0, it starts as backup.
func TestHAStartRole(t *testing.T) {
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix("hastart"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i)} }, 8080, 5353)
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	rules := fmt.Sprintf("-A -t %[1]s:80 -s rr\n-a -t %[1]s:80 -r %[2]s:8080 -m -w 1\n-a -t %[1]s:80 -r %[3]s:8080 -m -w 1\n", topo.VIP4, topo.RS4(0), topo.RS4(1))
	if err := os.WriteFile(conf, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	e := runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), 1, "--ha", "--config", conf)
	if h := haOf(t, e.d, e.adm); h.Role != api.HAMaster || !h.Forwarding || !strings.Contains(h.Reason, topo.VIP4+" is on an interface") {
		t.Fatalf("started with the VIP on d0: %+v, want master", h)
	}
	e.client.Timeout = 2 * time.Second
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := topo.Get(e.client, topo.URL(topo.VIP4, 80, "/"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the VIP through a director master at start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := nat.Director.Exec("ip", "addr", "del", topo.VIP4+"/32", "dev", "d0"); err != nil {
		t.Fatal(err)
	}
	e = runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), 1, "--ha", "--config", conf)
	if h := haOf(t, e.d, e.adm); h.Role != api.HABackup || h.Forwarding {
		t.Fatalf("started without the VIP: %+v, want backup", h)
	}
}

// TestHABGPRole: with BGP and --ha, a director announces its VIPs only while it is master: both
// start on standby and the router has no route for the VIPs; the one made master is announced
// alone; when the roles swap, so does the route.
func TestHABGPRole(t *testing.T) {
	e := newHAEnv(t, "habgp", "--ha")
	established := func(i int) bool {
		var js struct{ BGP api.BGPState }
		out, err := e.ds[i].Adm(e.adm, "show", "bgp", "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), &js) != nil {
			return false
		}
		for _, p := range js.BGP.Peers {
			if p.State != "established" {
				return false
			}
		}
		return len(js.BGP.Peers) > 0 && js.BGP.Down == "ha role backup"
	}
	deadline := time.Now().Add(20 * time.Second)
	for !established(0) || !established(1) {
		if time.Now().After(deadline) {
			out0, _ := e.ds[0].Adm(e.adm, "show", "bgp")
			t.Fatalf("sessions not established with both directors on standby:\n%s", out0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // what a director would announce, the router would have by now
	if n4, n6 := e.nextHops(false), e.nextHops(true); n4 != 0 || n6 != 0 {
		t.Fatalf("both directors on standby: the router has %d and %d next hops for the VIPs", n4, n6)
	}
	via := func(i int) bool {
		out, _ := e.ha.Router.Exec("ip", "route", "show", topo.VIP4)
		return strings.Contains(out+" ", "via "+topo.HADir4(i)+" ")
	}
	mustAdm(t, e.ds[0], e.adm, "ha", "role", "master")
	e.waitRoutes(1, 1)
	if !via(0) {
		t.Error("director 0 is master, the route is not through it")
	}
	mustAdm(t, e.ds[0], e.adm, "ha", "role", "backup")
	mustAdm(t, e.ds[1], e.adm, "ha", "role", "master")
	deadline = time.Now().Add(15 * time.Second)
	for !via(1) || via(0) {
		if time.Now().After(deadline) {
			out, _ := e.ha.Router.Exec("ip", "route", "show", topo.VIP4)
			t.Fatalf("roles swapped: the route is %q, want it through director 1 alone", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
