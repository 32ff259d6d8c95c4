package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The version line of `ipvsadm -L`: the IPVS version xdpvs mirrors and IPVS's default table size.
const (
	IPVSVersion    = "1.2.1"
	ConnTableSize  = 4096
	versionHeading = "IP Virtual Server version " + IPVSVersion + " (size=4096)"
)

// Formats follow ipvsadm 1.31's print functions (print_title, print_service_entry, list_conn,
// list_timeout, print_largenum) and DPVS's for --get-laddr. Addresses are always numeric: xdpvs
// does no name lookups, so -n changes nothing.

// addrPort is addrport_to_anyname in numeric form: "198.18.0.1:80", "[2001:2::1]:80".
func addrPort(a netip.Addr, port uint16) string {
	if a.Is4() {
		return a.String() + ":" + strconv.Itoa(int(port))
	}
	return "[" + a.String() + "]:" + strconv.Itoa(int(port))
}

// largenum is print_largenum: 9 columns, K/M/G/T abbreviations unless exact.
func largenum(i uint64, exact bool) string {
	if exact {
		s := strconv.FormatUint(i, 10)
		if len(s) <= 8 {
			return fmt.Sprintf("%9s", s)
		}
		return " " + s
	}
	switch {
	case i < 100000000:
		return fmt.Sprintf("%9d", i)
	case i < 1000000000:
		return fmt.Sprintf("%8dK", i/1000)
	case i < 100000000000:
		return fmt.Sprintf("%8dM", i/1000000)
	case i < 100000000000000:
		return fmt.Sprintf("%8dG", i/1000000000)
	}
	return fmt.Sprintf("%8dT", i/1000000000000)
}

func writeTitle(w io.Writer, o model.ListOptions) {
	switch {
	case o.Stats:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case o.Rate:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case o.Thresholds:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case o.PersistentConn:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	default:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func writeServiceEntry(w io.Writer, s *api.ServiceState, o model.ListOptions) {
	name := serviceName(&s.ServiceKey)
	switch {
	case o.Stats:
		fmt.Fprintf(w, "%-33s%s%s%s%s%s\n", name, largenum(s.Stats.Conns, o.Exact),
			largenum(s.Stats.InPkts, o.Exact), largenum(s.Stats.OutPkts, o.Exact),
			largenum(s.Stats.InBytes, o.Exact), largenum(s.Stats.OutBytes, o.Exact))
	case o.Rate:
		fmt.Fprintf(w, "%-33s%s%s%s%s%s\n", name, largenum(s.Rate.CPS, o.Exact),
			largenum(s.Rate.InPPS, o.Exact), largenum(s.Rate.OutPPS, o.Exact),
			largenum(s.Rate.InBPS, o.Exact), largenum(s.Rate.OutBPS, o.Exact))
	default:
		var b strings.Builder
		b.WriteString(name + " " + s.Scheduler)
		if s.SchedFlags != 0 || s.MHSize != 0 {
			b.WriteString(" (" + schedFlagNames(s.Scheduler, s.SchedFlags, s.MHSize) + ")")
		}
		if s.Persistent {
			fmt.Fprintf(&b, " persistent %d", s.Timeout)
			if s.Netmask != model.FullMask(s.Address) {
				b.WriteString(" mask " + maskString(s.Address, s.Netmask))
			}
		}
		if s.OnePacket {
			b.WriteString(" ops")
		}
		if s.SynProxy {
			b.WriteString(" synproxy")
		}
		if s.ProxyProtocol != "" {
			b.WriteString(" proxy-protocol " + s.ProxyProtocol)
		}
		fmt.Fprintln(w, b.String())
	}
	for i := range s.RealServers {
		d := &s.RealServers[i]
		weight := d.Weight
		if d.Health != nil {
			// The dataplane's view, as ipvsadm shows what keepalived left in IPVS: a failed
			// server quiesced (weight 0) or removed.
			if !d.Health.InService {
				continue
			}
			weight = d.Health.Weight
		}
		dname := addrPort(d.Address, d.Port)
		if s.Address.Is4() {
			dname = truncate(dname, 28)
		}
		switch {
		case o.Stats:
			fmt.Fprintf(w, "  -> %-28s%s%s%s%s%s\n", dname, largenum(d.Stats.Conns, o.Exact),
				largenum(d.Stats.InPkts, o.Exact), largenum(d.Stats.OutPkts, o.Exact),
				largenum(d.Stats.InBytes, o.Exact), largenum(d.Stats.OutBytes, o.Exact))
		case o.Rate:
			fmt.Fprintf(w, "  -> %-28s %8d %8d %8d%s%s\n", dname, uint32(d.Rate.CPS),
				uint32(d.Rate.InPPS), uint32(d.Rate.OutPPS),
				largenum(d.Rate.InBPS, o.Exact), largenum(d.Rate.OutBPS, o.Exact))
		case o.Thresholds:
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname,
				d.UThreshold, d.LThreshold, d.ActiveConns, d.InactiveConns)
		case o.PersistentConn:
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname,
				weight, d.PersistentConns, d.ActiveConns, d.InactiveConns)
		default:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, d.Forward,
				weight, d.ActiveConns, d.InactiveConns)
		}
	}
}

// maskString writes a persistence mask as ipvsadm does: dotted for IPv4, the length for IPv6.
func maskString(a netip.Addr, bits int) string {
	if !a.Is4() {
		return strconv.Itoa(bits)
	}
	m := [4]byte{}
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m).String()
}

// WriteList writes `-L` (all services, with the version line) or `-L -t VIP:PORT` (one).
func WriteList(w io.Writer, st *api.State, o model.ListOptions, one bool) {
	if !one {
		fmt.Fprintln(w, versionHeading)
	}
	writeTitle(w, o)
	for i := range st.Services {
		writeServiceEntry(w, &st.Services[i], o)
	}
}

// WriteServices writes `show services`: -Ln, and under each service that cannot forward new
// connections yet a line that says why (which -L leaves out, for the scripts that read it).
func WriteServices(w io.Writer, st *api.State) {
	fmt.Fprintln(w, versionHeading)
	writeTitle(w, model.ListOptions{})
	for i := range st.Services {
		s := &st.Services[i]
		writeServiceEntry(w, s, model.ListOptions{})
		for _, why := range s.NotForwarding {
			fmt.Fprintf(w, "  !! not forwarding: %s\n", why)
		}
	}
}

// WriteTimeout writes `-L --timeout`.
func WriteTimeout(w io.Writer, t model.Timeouts) {
	fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

// WriteConns writes `-L -c`. When a connection has a local address (FULLNAT), a "local" column is
// added before the destination, as DPVS lists them.
func WriteConns(w io.Writer, conns []api.Conn) {
	local := false
	for _, c := range conns {
		if c.Local.IsValid() {
			local = true
		}
	}
	fmt.Fprintln(w, "IPVS connection entries")
	if local {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %s\n", "state", "source", "virtual", "local", "destination")
	} else {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	ap := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return "-"
		}
		return addrPort(a.Addr(), a.Port())
	}
	for _, c := range conns {
		exp := fmt.Sprintf("%02d:%02d", c.Expires/60, c.Expires%60)
		if local {
			fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %-18s %s\n", c.Protocol, exp, c.State,
				ap(c.Client), ap(c.Virtual), ap(c.Local), ap(c.Destination))
		} else {
			fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Protocol, exp, c.State,
				ap(c.Client), ap(c.Virtual), ap(c.Destination))
		}
	}
}

// WriteLaddrs writes `--get-laddr` as DPVS's ipvsadm does: a title, then per service its address
// and number of local addresses, then one line per local address (conflicts and connections are
// not counted per local address by xdpvs and show 0).
func WriteLaddrs(w io.Writer, st *api.State) {
	for i := range st.Services {
		s := &st.Services[i]
		if i == 0 {
			fmt.Fprintf(w, "%-20s %-8s %-20s %-10s %-10s\n", "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS")
		}
		fmt.Fprintf(w, "%-20s %-8d \n", addrPort(s.Address, s.Port), len(s.LocalAddrs))
		for _, l := range s.LocalAddrs {
			fmt.Fprintf(w, "%-20s %-8s %-20s %-10d %-10d\n", "", "", l, 0, 0)
		}
	}
}

// WriteWorkers prints `show workers`: one line of counters per worker, then its socket statistics;
// with drops, the non-zero drop counters of each worker instead.
func WriteWorkers(w io.Writer, ws []api.WorkerStats, drops bool) {
	if drops {
		fmt.Fprintf(w, "%-6s %-28s %12s\n", "Worker", "Reason", "Packets")
		for _, x := range ws {
			for _, d := range x.Drops {
				if d.Count > 0 {
					fmt.Fprintf(w, "%-6d %-28s %12d\n", x.ID, d.Name, d.Count)
				}
			}
		}
		return
	}
	fmt.Fprintf(w, "%-6s %5s %4s %12s %12s %10s %10s %10s\n", "Worker", "Queue", "CPU", "RxPkts", "TxPkts", "HandOut", "HandIn", "Conns")
	for _, x := range ws {
		fmt.Fprintf(w, "%-6d %5d %4d %12d %12d %10d %10d %10d\n", x.ID, x.Queue, x.CPU, x.RXPackets, x.TXPackets, x.HandoffsOut, x.HandoffsIn, x.Conns)
	}
	for _, x := range ws {
		for _, c := range x.Sockets {
			if c.Count > 0 {
				fmt.Fprintf(w, "  worker %d socket %s %d\n", x.ID, c.Name, c.Count)
			}
		}
	}
}

// WriteEvents prints `show events`: the non-zero event counters of each worker.
func WriteEvents(w io.Writer, ws []api.WorkerStats) {
	fmt.Fprintf(w, "%-6s %-36s %12s\n", "Worker", "Event", "Count")
	for _, x := range ws {
		for _, ev := range x.Events {
			if ev.Count > 0 {
				fmt.Fprintf(w, "%-6d %-36s %12d\n", x.ID, ev.Name, ev.Count)
			}
		}
	}
}

// WriteDefense prints `show defense`: the connection tables' flood defence and, per worker, its
// connections and what the defence did (evictions, short timeouts) beside the refusals of a full
// table.
func WriteDefense(w io.Writer, st *api.State) {
	d := st.Defense
	switch d.Mode {
	case "auto":
		fmt.Fprintf(w, "Defense: auto (on while a worker's table is at least %d%% full)\n", d.Threshold)
	case "always":
		fmt.Fprintln(w, "Defense: always")
	default:
		fmt.Fprintln(w, "Defense: off (a full table refuses new connections)")
	}
	fmt.Fprintf(w, "%-6s %10s %12s %14s %12s\n", "Worker", "Conns", "Evicted", "ShortTimeouts", "TableFull")
	for _, x := range st.Workers {
		fmt.Fprintf(w, "%-6d %10d %12d %14d %12d\n", x.ID, x.Conns, named(x.Events, "conn_evicted"),
			named(x.Events, "defense_short_timeouts"), named(x.Drops, "table_full"))
	}
}

// named returns the count called name, 0 if there is none.
func named(cs []api.NamedCount, name string) uint64 {
	for _, c := range cs {
		if c.Name == name {
			return c.Count
		}
	}
	return 0
}

// synProxyAlways are the SYN proxy's counters `show synproxy` prints even when zero; its failure
// counters appear once they count something.
var synProxyAlways = []string{"syn_answered", "cookie_valid", "cookie_bad_cookie", "conn_opened", "handshake_done",
	"replayed", "data_stored", "syn_retried", "fail_server_rst", "fail_server_timeout"}

// WriteSynProxy prints `show synproxy`: the SYN proxy's counters (events and drops named
// synproxy_*), the total and each worker's.
func WriteSynProxy(w io.Writer, ws []api.WorkerStats) {
	type row struct {
		name string
		n    []uint64
	}
	var rows []*row
	byName := map[string]*row{}
	get := func(name string) *row {
		if r := byName[name]; r != nil {
			return r
		}
		r := &row{name: name, n: make([]uint64, len(ws))}
		byName[name] = r
		rows = append(rows, r)
		return r
	}
	for _, name := range synProxyAlways {
		get(name)
	}
	for i, x := range ws {
		for _, g := range []struct {
			list []api.NamedCount
			pfx  string
		}{{x.Events, ""}, {x.Drops, "drop_"}} {
			for _, c := range g.list {
				name, ok := strings.CutPrefix(c.Name, "synproxy_")
				if name = g.pfx + name; !ok || (c.Count == 0 && byName[name] == nil) {
					continue
				}
				get(name).n[i] += c.Count
			}
		}
	}
	fmt.Fprintf(w, "%-28s %12s", "SYN proxy", "Total")
	for _, x := range ws {
		fmt.Fprintf(w, " %12s", fmt.Sprintf("worker %d", x.ID))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		var total uint64
		for _, n := range r.n {
			total += n
		}
		fmt.Fprintf(w, "%-28s %12d", r.name, total)
		for _, n := range r.n {
			fmt.Fprintf(w, " %12d", n)
		}
		fmt.Fprintln(w)
	}
}

// WriteQueues prints `show queues`: the AF_XDP socket statistics of every worker's queue on every
// interface, zeros included.
func WriteQueues(w io.Writer, ws []api.WorkerStats) {
	fmt.Fprintf(w, "%-6s %5s %-12s %-28s %12s\n", "Worker", "Queue", "Interface", "Statistic", "Count")
	for _, x := range ws {
		for _, c := range x.Sockets {
			iface, stat, ok := strings.Cut(c.Name, "/")
			if !ok {
				iface, stat = "-", c.Name
			}
			fmt.Fprintf(w, "%-6d %5d %-12s %-28s %12d\n", x.ID, x.Queue, iface, stat, c.Count)
		}
	}
}

// WriteServers prints `show servers`: every real server with its configured and effective
// weight, health and connections.
func WriteServers(w io.Writer, st *api.State) {
	fmt.Fprintf(w, "%-4s %-24s %-28s %-7s %6s %6s %-7s %10s %10s\n",
		"Prot", "Virtual", "Real", "Forward", "Weight", "Eff", "Health", "ActiveConn", "InActConn")
	for i := range st.Services {
		s := &st.Services[i]
		for j := range s.RealServers {
			d := &s.RealServers[j]
			eff, health := d.Weight, "-"
			switch {
			case d.Sorry:
				health = "sorry"
			case d.Health != nil:
				eff, health = d.Health.Weight, healthWord(d.Health)
				if !d.Health.InService {
					health += "/out"
				}
			}
			fmt.Fprintf(w, "%-4s %-24s %-28s %-7s %6d %6d %-7s %10d %10d\n", s.Protocol,
				addrPort(s.Address, s.Port), addrPort(d.Address, d.Port), d.Forward, d.Weight, eff, health,
				d.ActiveConns, d.InactiveConns)
		}
	}
}

func healthWord(h *api.ServerHealth) string {
	switch {
	case h.Up:
		return "up"
	case h.Passive:
		return "down*"
	}
	return "down"
}

// WriteHealth prints `show health`: per checked service its check, then per real server its
// state, for how long, the consecutive successes and failures and the last error. now is the
// time the ages are counted from. A passive failure (SYN timeouts) is marked down*.
func WriteHealth(w io.Writer, st *api.State, now time.Time) {
	first := true
	for i := range st.Services {
		s := &st.Services[i]
		if s.Health == nil {
			continue
		}
		if first {
			fmt.Fprintf(w, "Prot LocalAddress:Port Check\n  -> RemoteAddress:Port           State  Since      Succ Fail Checks     LastError\n")
			first = false
		}
		h := s.Health
		fmt.Fprintf(w, "%s  %s %s\n", s.Protocol, addrPort(s.Address, s.Port), healthArgs(h))
		for j := range s.RealServers {
			d := &s.RealServers[j]
			if d.Sorry {
				fmt.Fprintf(w, "  -> %-28s %-6s\n", addrPort(d.Address, d.Port), "sorry")
				continue
			}
			if d.Health == nil {
				continue
			}
			x := d.Health
			since := "-"
			if !x.Since.IsZero() {
				since = now.Sub(x.Since).Round(time.Second).String()
			}
			fmt.Fprintf(w, "  -> %-28s %-6s %-10s %4d %4d %-10d %s\n", addrPort(d.Address, d.Port),
				healthWord(x), since, x.Successes, x.Failures, x.Checks, x.LastError)
		}
	}
	if first {
		fmt.Fprintln(w, "no health checks")
	}
}

// WriteConfigStatus prints `show config`: the configuration file, when it was last saved, the
// saves that failed and whether it holds the running configuration. now is the time ages are
// counted from.
func WriteConfigStatus(w io.Writer, cs *api.ConfigStatus, now time.Time) {
	if cs == nil {
		return
	}
	if cs.Path == "" {
		fmt.Fprintln(w, "Configuration file: none (xdpvsd --config FILE): the configuration is lost at restart")
		return
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339) + " (" + now.Sub(t).Round(time.Second).String() + " ago)"
	}
	fmt.Fprintf(w, "Configuration file: %s\nLast saved:         %s\nSave failures:      %d\n", cs.Path, at(cs.Saved), cs.SaveFailures)
	if cs.LastError != "" {
		fmt.Fprintf(w, "Last failure:       %s: %s\n", at(cs.LastErrorAt), cs.LastError)
	}
	if cs.Differs {
		fmt.Fprintf(w, "Running config:     NOT SAVED: %s; a restart would not restore it\n", cs.Reason)
	} else {
		fmt.Fprintln(w, "Running config:     saved (the file holds it)")
	}
}
