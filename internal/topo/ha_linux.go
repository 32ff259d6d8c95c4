package topo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Addresses of the HA layout: the client on its own link behind the router, the router, the
// directors and the real servers on one segment.
const (
	HAClient4  = "198.18.100.2"
	HAClient6  = "2001:2:100::2"
	HARouter4  = "198.18.0.254" // on the segment
	HARouter6  = "2001:2::fe"
	HARouterAS = 65000
	HADirAS    = 65010
)

// HADir4 and HADir6 are director i's addresses on the segment (its BGP next hops).
func HADir4(i int) string { return fmt.Sprintf("198.18.0.%d", 1+i) }
func HADir6(i int) string { return fmt.Sprintf("2001:2::%d", 1+i) }

// HA is the layout of several directors: client ─ router ═ segment (a bridge) with the directors
// and the real servers. The router forwards to the VIPs by the routes BIRD learns from the
// directors over BGP, ECMP over both (fib_multipath_hash_policy=1: by ports too). The VIPs are
// on no director interface (routed mode); each real server holds them on lo, without ARP for
// them, and answers the client directly through the router (direct routing).
type HA struct {
	Client, Router, Switch *netns.NS
	Dirs, RS               []*netns.NS
	hosts
}

// NewHA builds the layout with namespaces prefix-client, -router, -sw, -dir<i>, -rs<i>.
func NewHA(prefix string, directors, realServers int) (t *HA, err error) {
	t = &HA{hosts: hosts{prefix: prefix}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	mk := t.add
	if t.Switch, err = mk("sw"); err != nil {
		return nil, err
	}
	if err = run(t.Switch, []string{"ip", "link", "add", "br0", "type", "bridge"}, []string{"ip", "link", "set", "br0", "up"}); err != nil {
		return nil, err
	}
	port := func(host *netns.NS, name, swName string) error {
		if err := netns.Veth(host, name, t.Switch, swName, 1); err != nil {
			return err
		}
		return run(t.Switch, []string{"ip", "link", "set", swName, "master", "br0"})
	}
	if t.Client, err = mk("client"); err != nil {
		return nil, err
	}
	// No ICMP redirects: a real server's packet to a director's local address comes in and goes
	// out on the segment, and a redirect would make the real server send to that director
	// directly, past the router, and on to a dead one after a failover (routers in front of
	// load balancers have them off).
	if t.Router, err = mk("router", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0"); err != nil {
		return nil, err
	}
	if err = netns.Veth(t.Client, "c0", t.Router, "rc", 1); err != nil {
		return nil, err
	}
	if err = port(t.Router, "r0", "sr"); err != nil {
		return nil, err
	}
	if err = run(t.Client,
		[]string{"ip", "addr", "add", HAClient4 + "/24", "dev", "c0"},
		[]string{"ip", "addr", "add", HAClient6 + "/64", "dev", "c0", "nodad"},
		[]string{"ip", "route", "add", "default", "via", "198.18.100.1"},
		[]string{"ip", "-6", "route", "add", "default", "via", "2001:2:100::1"},
	); err != nil {
		return nil, err
	}
	if err = run(t.Router,
		[]string{"ip", "addr", "add", "198.18.100.1/24", "dev", "rc"},
		[]string{"ip", "addr", "add", "2001:2:100::1/64", "dev", "rc", "nodad"},
		[]string{"ip", "addr", "add", HARouter4 + "/24", "dev", "r0"},
		[]string{"ip", "addr", "add", HARouter6 + "/64", "dev", "r0", "nodad"},
	); err != nil {
		return nil, err
	}
	for i := range directors {
		d, err := mk("dir" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.Dirs = append(t.Dirs, d)
		if err = port(d, "d0", "sd"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
		if err = run(d,
			[]string{"ip", "addr", "add", HADir4(i) + "/24", "dev", "d0"},
			[]string{"ip", "addr", "add", HADir6(i) + "/64", "dev", "d0", "nodad"},
			[]string{"ip", "route", "add", "default", "via", HARouter4},
			[]string{"ip", "-6", "route", "add", "default", "via", HARouter6},
			// A director forwards like the router it is; the guards' blackholes keep the VIPs'
			// packets from going back out while the daemon is down.
			[]string{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
			[]string{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"},
		); err != nil {
			return nil, err
		}
	}
	for i := range realServers {
		rs, err := mk("rs" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.RS = append(t.RS, rs)
		if err = port(rs, "r0", "ss"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.r0.arp_ignore=1"},
			[]string{"sysctl", "-qw", "net.ipv4.conf.r0.arp_announce=2"},
			[]string{"ip", "addr", "add", VIP4 + "/32", "dev", "lo"},
			[]string{"ip", "addr", "add", VIP6 + "/128", "dev", "lo", "nodad"},
			[]string{"ip", "addr", "add", DRRS4(i) + "/24", "dev", "r0"},
			[]string{"ip", "addr", "add", DRRS6(i) + "/64", "dev", "r0", "nodad"},
			[]string{"ip", "route", "add", "default", "via", HARouter4},
			[]string{"ip", "-6", "route", "add", "default", "via", HARouter6},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// BIRD is a BIRD 2 daemon in a namespace, with its configuration, socket and log in a directory
// of the test's.
type BIRD struct {
	Dir, Socket string
	cmd         *exec.Cmd
	done        chan error
}

// StartBIRD runs bird with config (the text of bird.conf) in ns, in the foreground, and waits
// until its control socket answers.
func StartBIRD(ns *netns.NS, dir, config string) (*BIRD, error) {
	if _, err := exec.LookPath("bird"); err != nil {
		return nil, fmt.Errorf("topo: bird not installed (apt-get install bird2): %w", err)
	}
	b := &BIRD{Dir: dir, Socket: filepath.Join(dir, "bird.ctl"), done: make(chan error, 1)}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "bird.out"))
	if err != nil {
		return nil, err
	}
	b.cmd = ns.Command("bird", "-f", "-c", conf, "-s", b.Socket, "-P", filepath.Join(dir, "bird.pid"))
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { b.done <- b.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-b.done:
			out, _ := os.ReadFile(filepath.Join(dir, "bird.out"))
			return nil, fmt.Errorf("topo: bird exited: %v\n%s", err, out)
		default:
		}
		if _, err := b.Ctl(ns, "show status"); err == nil {
			return b, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Stop()
	return nil, fmt.Errorf("topo: bird's socket did not answer")
}

// Ctl runs a birdc command.
func (b *BIRD) Ctl(ns *netns.NS, command string) (string, error) {
	return ns.Exec(append([]string{"birdc", "-s", b.Socket}, strings.Fields(command)...)...)
}

// Stop ends bird (SIGTERM, then SIGKILL after 5 s).
func (b *BIRD) Stop() {
	if b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-b.done:
		b.done <- err
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		b.done <- <-b.done
	}
}

// Log is bird's output.
func (b *BIRD) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.Dir, "bird.out"))
	return string(out)
}

// HARouterBIRD is the router's BIRD configuration for the layout with n directors: a passive BGP
// session with each director per family, GRACEFUL_SHUTDOWN honoured (local preference 0, so a
// draining director's route leaves the multipath set), ECMP into the kernel (merge paths).
func HARouterBIRD(n int, hold int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `router id %s;
protocol device { scan time 10; }
protocol kernel k4 { ipv4 { import none; export all; }; merge paths on; }
protocol kernel k6 { ipv6 { import none; export all; }; merge paths on; }
filter from_director {
	if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
	accept;
}
`, HARouter4)
	for i := range n {
		for _, f := range []struct{ name, local, nbr, fam string }{
			{"d" + strconv.Itoa(i) + "v4", HARouter4, HADir4(i), "ipv4"},
			{"d" + strconv.Itoa(i) + "v6", HARouter6, HADir6(i), "ipv6"},
		} {
			fmt.Fprintf(&b, `protocol bgp %s {
	local %s as %d;
	neighbor %s as %d;
	passive on;
	hold time %d;
	connect retry time 1;
	error wait time 1, 2;
	%s { import filter from_director; export none; };
}
`, f.name, f.local, HARouterAS, f.nbr, HADirAS, hold, f.fam)
		}
	}
	return b.String()
}

// HAExportTable is the kernel table the directors of the OSPF layout export their announced
// prefixes into (xdpvsd --export-table).
const HAExportTable = 100

// HARouterOSPF is the router's BIRD configuration for the OSPF layout: OSPFv2 (IPv4) and OSPFv3
// (IPv6) on the segment with the directors (hello 1 s, dead 4 s; the router the designated one),
// equal-cost paths into the kernel. The directors' routes to the VIPs are external (type 2, the
// same metric from each): with merge external (off by default in BIRD, for RFC 2328) the router
// combines them into one multipath route over both.
func HARouterOSPF() string {
	return fmt.Sprintf(`router id %s;
protocol device { scan time 10; }
protocol kernel k4 { ipv4 { import none; export all; }; merge paths on; }
protocol kernel k6 { ipv6 { import none; export all; }; merge paths on; }
protocol ospf v2 o4 {
	ecmp yes;
	merge external yes;
	ipv4 { import all; export none; };
	area 0 { interface "r0" { hello 1; dead 4; priority 10; }; };
}
protocol ospf v3 o6 {
	ecmp yes;
	merge external yes;
	ipv6 { import all; export none; };
	area 0 { interface "r0" { hello 1; dead 4; priority 10; }; };
}
`, HARouter4)
}

// HADirectorOSPF is director i's BIRD configuration for the OSPF layout, as docs/several-directors.md
// gives it: it learns the routes xdpvsd writes into the export table (protocol 250) and
// redistributes them, and nothing else, into OSPF; it writes nothing into the kernel, so the
// director's own forwarding never follows OSPF.
func HADirectorOSPF(i int) string {
	return fmt.Sprintf(`router id %s;
protocol device { scan time 10; }
protocol kernel xdpvs4 { kernel table %[2]d; learn; scan time 2; ipv4 { import all; export none; }; }
protocol kernel xdpvs6 { kernel table %[2]d; learn; scan time 2; ipv6 { import all; export none; }; }
protocol ospf v2 o4 {
	ipv4 { import none; export where proto = "xdpvs4"; };
	area 0 { interface "d0" { hello 1; dead 4; priority 0; }; };
}
protocol ospf v3 o6 {
	ipv6 { import none; export where proto = "xdpvs6"; };
	area 0 { interface "d0" { hello 1; dead 4; priority 0; }; };
}
`, HADir4(i), HAExportTable)
}
