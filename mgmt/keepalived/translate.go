package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Note is something of the configuration that was not translated, or only approximately, with
// where it is and why.
type Note struct {
	File string
	Line int
	Text string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Text) }

// Line is one line of the translation (xdpvsadm -S syntax) with the statement it comes from.
type Line struct {
	Text string
	File string
	Line int
	// Service is the -t|-u VIP:PORT (or -f MARK [-6]) of the line's service: a line that cannot
	// be applied takes the rest of its service with it when it is the -A.
	Service string
}

// Result is a translation.
type Result struct {
	Lines []Line
	Notes []Note
	// Comments head the translation ("# " before each): the mark rules a firewall-mark service
	// needs, which keepalived.conf does not hold, as examples to complete.
	Comments []string
}

// Import reads the configuration at path (and its includes) and translates it. Its error is
// for a configuration it cannot read: a missing file, unbalanced braces.
func Import(path string, files Files) (*Result, error) {
	if files == nil {
		files = OSFiles{}
	}
	l := &lexer{files: files}
	if err := l.readFile(path, 0); err != nil {
		return nil, err
	}
	nodes, err := parse(l.toks)
	if err != nil {
		return nil, err
	}
	t := &translator{res: &Result{Notes: l.notes}, groups: map[string]*node{}, laddrGroups: map[string]*node{}, used: map[string]bool{}, marks: map[uint32]bool{}}
	for _, n := range nodes { // groups may come after the virtual servers that use them
		switch n.key {
		case "virtual_server_group":
			t.groups[n.arg(0)] = n
		case "local_address_group":
			t.laddrGroups[n.arg(0)] = n
		}
	}
	for _, n := range nodes {
		t.top(n)
	}
	for _, n := range nodes {
		if (n.key == "virtual_server_group" || n.key == "local_address_group") && !t.used[n.arg(0)] {
			t.note(n, "%s %s not translated: no virtual_server uses it", n.key, n.arg(0))
		}
	}
	slices.SortStableFunc(t.res.Notes, func(a, b Note) int {
		if a.File != b.File {
			return 0 // files in the order they were read
		}
		return a.Line - b.Line
	})
	return t.res, nil
}

type translator struct {
	res         *Result
	groups      map[string]*node
	laddrGroups map[string]*node
	used        map[string]bool // the groups a virtual_server names
	marks       map[uint32]bool // the marks whose mark rules have been named
	full        bool            // maxLines reached: nothing more is translated
}

func (t *translator) note(n *node, format string, args ...any) {
	f, l := n.at()
	t.res.Notes = append(t.res.Notes, Note{f, l, fmt.Sprintf(format, args...)})
}

// notLB are the top-level blocks that are not load balancing, and why each stays behind.
var notLB = map[string]string{
	"global_defs":          "keepalived's own settings (notification, router id, scripts' user): nothing of xdpvs's",
	"vrrp_instance":        "VRRP stays with keepalived: run keepalived's VRRP beside xdpvsd (the VIPs on the interface), or announce them with xdpvsd's BGP",
	"vrrp_sync_group":      "VRRP stays with keepalived",
	"vrrp_script":          "VRRP stays with keepalived",
	"vrrp_track_file":      "VRRP stays with keepalived",
	"static_ipaddress":     "the system's addresses are not xdpvs's to set",
	"static_routes":        "the system's routes are not xdpvs's to set",
	"static_rules":         "the system's routing rules are not xdpvs's to set",
	"linkbeat_use_polling": "keepalived's own setting",
	"deny_address_group":   "DPVS's client blacklist: xdpvs has none (filter in nftables before the director)",
	"allow_address_group":  "DPVS's client whitelist: xdpvs has none (filter in nftables before the director)",
}

// top translates one top-level statement.
func (t *translator) top(n *node) {
	switch n.key {
	case "virtual_server":
		t.virtualServer(n)
	case "virtual_server_group", "local_address_group":
		// read with the services that use them
	default:
		if why, ok := notLB[n.key]; ok {
			t.note(n, "%s not translated: %s", n.key, why)
			return
		}
		t.note(n, "%s not translated: not a keyword of keepalived's load balancing that xdpvs knows", n.key)
	}
}

// svcKey is one service of a virtual_server: an address and port, or a firewall mark.
type svcKey struct {
	n    *node // where it is written: the virtual_server, or its group's entry
	ap   netip.AddrPort
	mark uint32 // non-zero: a fwmark service (-f MARK), of the virtual_server's family
}

// service is a virtual_server as read.
type service struct {
	n         *node
	keys      []svcKey
	v6        bool // the family of its fwmark services: ip_family, else serversFamily's
	family    bool // ip_family was given
	proto     model.Protocol
	sched     string
	fwd       string
	persist   string // -p T -M MASK
	flags     []string
	delayLoop time.Duration
	sorry     *node
	sorryFwd  string
	quorum    int
	laddrs    []string // --add-laddr options: -z LIP [-F IF]
	host      string   // virtualhost of the service
	inhibit   bool     // inhibit_on_failure for every real server
	servers   []*realServer
}

// realServer is a real_server as read.
type realServer struct {
	n       *node
	addr    netip.Addr
	port    uint16
	fwd     string
	weight  uint32
	uth     uint32
	lth     uint32
	inhibit bool
	checks  []*check
}

// fwdSwitch is the -a switch of a keepalived lb_kind.
var fwdSwitch = map[string]string{"NAT": "-m", "DR": "-g", "TUN": "-i", "FNAT": "--fullnat"}

func (t *translator) virtualServer(n *node) {
	s := &service{n: n, proto: model.TCP, fwd: "-m", delayLoop: 60 * time.Second}
	if !t.serviceKeys(s) {
		return
	}
	for _, k := range n.kids {
		t.serviceKeyword(s, k)
	}
	if len(s.keys) == 0 {
		return
	}
	if !s.family {
		s.v6 = serversFamily(s)
	}
	if s.sched == "" && !slices.ContainsFunc(n.kids, func(k *node) bool { return k.key == "lb_algo" || k.key == "lvs_sched" }) {
		t.note(n, "no lb_algo: xdpvs's default scheduler, %s, is used", model.DefaultScheduler())
	}
	t.emit(s)
}

// serviceKeys reads the addresses of a virtual_server: IP PORT, or group NAME.
func (t *translator) serviceKeys(s *service) bool {
	n := s.n
	switch n.arg(0) {
	case "fwmark":
		mark, ok := fwmark(n.arg(1))
		if !ok || len(n.args) != 2 {
			t.note(n, "virtual_server %s not translated: want fwmark and a mark from 1 to %d", strings.Join(n.args, " "), uint32(math.MaxUint32))
			return false
		}
		s.keys = []svcKey{{n: n, mark: mark}}
		return true
	case "group":
		g := t.groups[n.arg(1)]
		t.used[n.arg(1)] = true
		if g == nil {
			t.note(n, "virtual_server group %s not translated: no virtual_server_group %s", n.arg(1), n.arg(1))
			return false
		}
		for _, e := range g.kids {
			s.keys = append(s.keys, t.groupEntry(e)...)
		}
		return true
	}
	ap, ok := addrPort(n.arg(0), n.arg(1))
	if !ok || len(n.args) != 2 {
		t.note(n, "virtual_server %s not translated: want an address and a port", strings.Join(n.args, " "))
		return false
	}
	s.keys = []svcKey{{n: n, ap: ap}}
	return true
}

// fwmark reads a firewall mark: 1 to 2^32-1, as ipvsadm's -f.
func fwmark(arg string) (uint32, bool) {
	v, err := strconv.ParseUint(arg, 10, 32)
	return uint32(v), err == nil && v != 0
}

// maxRange bounds the services one group entry's address range makes.
const maxRange = 256

// groupEntry reads one line of a virtual_server_group: IP PORT, FIRST-LAST PORT where LAST is
// the last byte (IPv4) or group (IPv6) of the range's end, as keepalived writes ranges, or
// fwmark MARK.
func (t *translator) groupEntry(e *node) []svcKey {
	if e.key == "fwmark" {
		mark, ok := fwmark(e.arg(0))
		if !ok || len(e.args) != 1 {
			t.note(e, "virtual_server_group entry fwmark %s not translated: want a mark from 1 to %d", strings.Join(e.args, " "), uint32(math.MaxUint32))
			return nil
		}
		return []svcKey{{n: e, mark: mark}}
	}
	first, last, isRange := strings.Cut(e.key, "-")
	ap, ok := addrPort(first, e.arg(0))
	if !ok {
		t.note(e, "virtual_server_group entry %s %s not translated: want an address (or range) and a port", e.key, e.arg(0))
		return nil
	}
	if !isRange {
		return []svcKey{{n: e, ap: ap}}
	}
	a := ap.Addr()
	b := a.AsSlice()
	var from, to uint64
	var err error
	if a.Is4() {
		from = uint64(b[3])
		to, err = strconv.ParseUint(last, 10, 8)
	} else {
		from = uint64(b[14])<<8 | uint64(b[15])
		to, err = strconv.ParseUint(last, 16, 16)
	}
	if err != nil || to < from || to-from >= maxRange {
		t.note(e, "virtual_server_group range %s not translated: its end must be the last part of an address after the first, at most %d addresses", e.key, maxRange)
		return nil
	}
	var out []svcKey
	for v := from; v <= to; v++ {
		if a.Is4() {
			b[3] = byte(v)
		} else {
			b[14], b[15] = byte(v>>8), byte(v)
		}
		x, _ := netip.AddrFromSlice(b)
		out = append(out, svcKey{n: e, ap: netip.AddrPortFrom(x, ap.Port())})
	}
	return out
}

// addrPort reads keepalived's "IP PORT".
func addrPort(ip, port string) (netip.AddrPort, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), true
}

// seconds reads keepalived's seconds (decimals allowed).
func seconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond), true
}

// ignoredService are keywords of a virtual_server that do nothing xdpvs needs, with why.
var ignoredService = map[string]string{
	"alpha":                "xdpvs starts a checked server down until it passes --rise checks (1 here), as alpha does",
	"omega":                "xdpvs runs no quorum scripts",
	"hysteresis":           "xdpvs has no quorum hysteresis",
	"quorum_up":            "xdpvs runs no quorum scripts (its BGP announcement follows --bgp-min-servers)",
	"quorum_down":          "xdpvs runs no quorum scripts (its BGP announcement follows --bgp-min-servers)",
	"ha_suspend":           "VRRP stays with keepalived",
	"smtp_alert":           "xdpvs sends no mail: alert on its metrics (xdpvs_health_*)",
	"virtualhost":          "",
	"establish_timeout":    "DPVS's per-service timeout: xdpvs's are global (--set tcp tcpfin udp)",
	"daddr_group_name":     "DPVS's client blacklist: xdpvs has none",
	"hash_target":          "DPVS's conhash key: xdpvs's mh hashes the client address and port",
	"retry":                "",
	"delay_before_retry":   "",
	"warmup":               "xdpvs checks a server at once",
	"sorry_server_inhibit": "xdpvs's sorry server gets weight 1 while no real server is up",
	"inhibit_on_failure":   "",
}

func (t *translator) serviceKeyword(s *service, k *node) {
	switch k.key {
	case "protocol":
		switch k.arg(0) {
		case "TCP":
			s.proto = model.TCP
		case "UDP":
			s.proto = model.UDP
		default:
			t.note(k, "virtual_server %s not translated: protocol %s is not supported by xdpvs (TCP and UDP are)", strings.Join(s.n.args, " "), k.arg(0))
			s.keys = nil
		}
	case "ip_family":
		t.family(s, k)
	case "lb_algo", "lvs_sched":
		t.scheduler(s, k)
	case "lb_kind", "lvs_method":
		if f, ok := fwdSwitch[k.arg(0)]; ok {
			s.fwd = f
		} else {
			t.note(k, "%s %s not translated: xdpvs forwards by NAT, DR, TUN or FNAT; NAT used", k.key, k.arg(0))
		}
	case "persistence_timeout":
		if v, err := strconv.ParseUint(k.arg(0), 10, 32); err == nil && v > 0 {
			s.persist = fmt.Sprintf(" -p %d", v) + s.persist
		} else {
			t.note(k, "persistence_timeout %s not translated: not a number of seconds", k.arg(0))
		}
	case "persistence_granularity":
		s.persist += " -M " + k.arg(0)
	case "delay_loop":
		if d, ok := seconds(k.arg(0)); ok && d > 0 {
			s.delayLoop = d
		} else {
			t.note(k, "delay_loop %s not translated: not a number of seconds", k.arg(0))
		}
	case "sorry_server":
		s.sorry = k
	case "sorry_server_lvs_method":
		if f, ok := fwdSwitch[k.arg(0)]; ok {
			s.sorryFwd = f
		}
	case "quorum":
		if v, err := strconv.Atoi(k.arg(0)); err == nil && v > 0 {
			s.quorum = v
		}
	case "ops":
		s.flags = append(s.flags, "-o")
	case "syn_proxy":
		s.flags = append(s.flags, "-j")
	case "laddr_group_name":
		t.localAddrs(s, k)
	case "real_server":
		if rs := t.realServer(s, k); rs != nil {
			s.servers = append(s.servers, rs)
		}
	default:
		t.ignoredServiceKeyword(s, k)
	}
}

func (t *translator) ignoredServiceKeyword(s *service, k *node) {
	why, ok := ignoredService[k.key]
	switch {
	case k.key == "virtualhost":
		s.host = k.arg(0)
	case k.key == "inhibit_on_failure":
		s.inhibit = true
	case ok && why == "":
		t.note(k, "%s of the service not translated: set it in each checker", k.key)
	case ok:
		t.note(k, "%s not translated: %s", k.key, why)
	default:
		t.note(k, "%s not translated: not a keyword of a virtual_server that xdpvs knows", k.key)
	}
}

// family reads ip_family, the family of a fwmark service (the others' is their address's).
func (t *translator) family(s *service, k *node) {
	switch k.arg(0) {
	case "inet":
		s.v6, s.family = false, true
	case "inet6":
		s.v6, s.family = true, true
	default:
		t.note(k, "ip_family %s not translated: want inet or inet6", k.arg(0))
	}
}

// serversFamily is the family of a fwmark service without ip_family, as keepalived sets it: its
// sorry server's, else its first real server's, leaving out those by TUN (which may be of the
// other family); IPv4 when nothing says.
func serversFamily(s *service) bool {
	if s.sorry != nil && s.sorryFwd != "-i" {
		if a, err := netip.ParseAddr(s.sorry.arg(0)); err == nil {
			return a.Unmap().Is6()
		}
	}
	for _, rs := range s.servers {
		if rs.forward(s) != "-i" {
			return rs.addr.Is6()
		}
	}
	return false
}

// schedulers maps keepalived's (and DPVS's) names that xdpvs does not have to the nearest it has.
var schedulers = map[string]string{"conhash": "mh"}

func (t *translator) scheduler(s *service, k *node) {
	name := k.arg(0)
	if slices.Contains(model.SchedulerNames(), name) {
		s.sched = name
		return
	}
	if near, ok := schedulers[name]; ok {
		t.note(k, "%s %s translated to %s: the nearest scheduler of xdpvs (consistent hashing)", k.key, name, near)
		s.sched = near
		return
	}
	t.note(k, "%s %s not translated: xdpvs has no such scheduler (%s); its default is used", k.key, name, strings.Join(model.SchedulerNames(), ", "))
}

// localAddrs reads DPVS's laddr_group_name: the group's "IP [IFNAME]" lines.
func (t *translator) localAddrs(s *service, k *node) {
	g := t.laddrGroups[k.arg(0)]
	t.used[k.arg(0)] = true
	if g == nil {
		t.note(k, "laddr_group_name %s not translated: no local_address_group %s", k.arg(0), k.arg(0))
		return
	}
	for _, e := range g.kids {
		a, err := netip.ParseAddr(e.key)
		if err != nil {
			t.note(e, "local address %s not translated: not an address", e.key)
			continue
		}
		opt := " -z " + a.String()
		if e.arg(0) != "" {
			opt += " -F " + e.arg(0)
		}
		s.laddrs = append(s.laddrs, opt)
	}
}

func (t *translator) realServer(s *service, n *node) *realServer {
	a, err := netip.ParseAddr(n.arg(0))
	if err != nil {
		t.note(n, "real_server %s not translated: not an address", strings.Join(n.args, " "))
		return nil
	}
	rs := &realServer{n: n, addr: a.Unmap(), weight: 1}
	if p := n.arg(1); p != "" {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			t.note(n, "real_server %s not translated: bad port", strings.Join(n.args, " "))
			return nil
		}
		rs.port = uint16(v)
	}
	for _, k := range n.kids {
		t.serverKeyword(rs, k)
	}
	return rs
}

func (t *translator) serverKeyword(rs *realServer, k *node) {
	num := func() (uint32, bool) {
		v, err := strconv.ParseUint(k.arg(0), 10, 32)
		if err != nil {
			t.note(k, "%s %s not translated: not a number", k.key, k.arg(0))
		}
		return uint32(v), err == nil
	}
	switch k.key {
	case "weight":
		if v, ok := num(); ok {
			rs.weight = v
		}
	case "uthreshold":
		if v, ok := num(); ok {
			rs.uth = v
		}
	case "lthreshold":
		if v, ok := num(); ok {
			rs.lth = v
		}
	case "inhibit_on_failure":
		rs.inhibit = true
	case "lvs_method":
		if f, ok := fwdSwitch[k.arg(0)]; ok {
			rs.fwd = f
		}
	case "notify_up", "notify_down":
		t.note(k, "%s not translated: xdpvs runs no notification scripts (watch xdpvs_health_* or show health)", k.key)
	default:
		if c := t.checker(k); c != nil {
			rs.checks = append(rs.checks, c)
			return
		}
	}
}
