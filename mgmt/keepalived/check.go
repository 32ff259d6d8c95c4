package keepalived

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// check is one checker of a real server, as a --health line's options.
type check struct {
	n        *node
	kind     string // model.CheckTCP, ...
	port     uint16 // connect_port
	path     string
	host     string
	expect   int
	script   string
	delay    time.Duration // the checker's delay_loop (0: the service's)
	timeout  time.Duration
	retry    int
	retryGap time.Duration // delay_before_retry
}

// checkers are keepalived's checkers and the kind of check each becomes ("" for none).
var checkers = map[string]string{
	"TCP_CHECK": model.CheckTCP, "HTTP_GET": model.CheckHTTP, "SSL_GET": model.CheckHTTPS,
	"MISC_CHECK": model.CheckScript, "UDP_CHECK": model.CheckUDP, "DNS_CHECK": model.CheckUDP,
	"SMTP_CHECK": model.CheckTCP, "PING_CHECK": "", "FILE_CHECK": "", "BFD_CHECK": "",
}

// checker reads a checker block of a real server, or notes a keyword it does not know and
// returns nil.
func (t *translator) checker(k *node) *check {
	kind, ok := checkers[k.key]
	if !ok {
		t.note(k, "%s not translated: not a keyword of a real_server that xdpvs knows", k.key)
		return nil
	}
	switch k.key {
	case "PING_CHECK", "FILE_CHECK", "BFD_CHECK":
		t.note(k, "%s not translated: xdpvs has no such check (tcp, http, https, udp and script are)", k.key)
		return nil
	case "SMTP_CHECK":
		t.note(k, "SMTP_CHECK translated to a tcp check (a connection, no SMTP greeting)")
	case "DNS_CHECK":
		t.note(k, "DNS_CHECK translated to a udp check: no DNS query is sent; up unless an ICMP error comes back")
	}
	c := &check{n: k, kind: kind, timeout: 5 * time.Second, retry: 1, retryGap: time.Second}
	for _, o := range k.kids {
		t.checkKeyword(c, o)
	}
	if c.kind == model.CheckScript && c.script == "" {
		t.note(k, "MISC_CHECK not translated: no misc_path")
		return nil
	}
	return c
}

// checkOptionsIgnored are checker keywords that have no xdpvs equivalent, with why.
var checkOptionsIgnored = map[string]string{
	"connect_ip":       "xdpvs checks the real server's own address",
	"bindto":           "xdpvs checks from the director's address toward the server",
	"bind_port":        "xdpvs checks from an ephemeral port",
	"bind_if":          "xdpvs checks through the routing table",
	"fwmark":           "xdpvs marks no check traffic",
	"warmup":           "xdpvs checks a server at once",
	"alpha":            "xdpvs starts a checked server down until it passes",
	"misc_dynamic":     "xdpvs reads the script's exit status as up (0) or down, not as a weight",
	"user":             "xdpvs runs scripts as itself, from its --health-scripts directory",
	"http_protocol":    "xdpvs sends HTTP/1.1 requests",
	"enable_sni":       "xdpvs sends the --host (else the address) as the server name",
	"tls_compliant":    "xdpvs's TLS client is always compliant",
	"helo_name":        "a tcp check sends no SMTP greeting",
	"host":             "a tcp check connects to the real server",
	"type":             "no DNS query is sent",
	"name":             "no DNS query is sent",
	"require_reply":    "a reply's bytes are not matched; without --receive up means no ICMP error",
	"payload":          "the datagram's bytes are not translated (hexadecimal); an empty datagram is sent",
	"dynamic":          "xdpvs reads no weight from checks",
	"log_all_failures": "xdpvs logs every change of state",
}

func (t *translator) checkKeyword(c *check, o *node) {
	dur := func() (time.Duration, bool) {
		d, ok := seconds(o.arg(0))
		if !ok {
			t.note(o, "%s %s not translated: not a number of seconds", o.key, o.arg(0))
		}
		return d, ok
	}
	switch o.key {
	case "connect_port":
		if v, err := strconv.ParseUint(o.arg(0), 10, 16); err == nil && v > 0 {
			c.port = uint16(v)
		} else {
			t.note(o, "connect_port %s not translated: not a port", o.arg(0))
		}
	case "connect_timeout", "misc_timeout":
		if d, ok := dur(); ok {
			c.timeout = d
		}
	case "delay_loop":
		if d, ok := dur(); ok {
			c.delay = d
		}
	case "retry", "nb_get_retry":
		if v, err := strconv.Atoi(o.arg(0)); err == nil && v >= 0 {
			c.retry = v
		}
	case "delay_before_retry":
		if d, ok := dur(); ok {
			c.retryGap = d
		}
	case "misc_path":
		f := strings.Fields(o.arg(0))
		if len(f) > 0 {
			c.script = f[0]
		}
		if len(f) > 1 {
			t.note(o, "misc_path's arguments (%s) left out: xdpvs runs the script as SCRIPT RIP RPORT", strings.Join(f[1:], " "))
		}
	case "virtualhost":
		c.host = o.arg(0)
	case "url":
		t.url(c, o)
	default:
		if why, ok := checkOptionsIgnored[o.key]; ok {
			t.note(o, "%s %s not translated: %s", c.n.key, o.key, why)
			return
		}
		t.note(o, "%s %s not translated: not a keyword of the checker that xdpvs knows", c.n.key, o.key)
	}
}

// url reads an HTTP_GET/SSL_GET url block; xdpvs checks one path.
func (t *translator) url(c *check, u *node) {
	if c.path != "" {
		t.note(u, "url not translated: xdpvs checks one path per service (%s)", c.path)
		return
	}
	c.path = "/"
	for _, o := range u.kids {
		switch o.key {
		case "path":
			c.path = o.arg(0)
		case "status_code":
			t.statusCode(c, o)
		case "virtualhost":
			c.host = o.arg(0)
		case "digest":
			t.note(o, "digest not compared: xdpvs checks the status code")
		default:
			t.note(o, "url %s not translated: xdpvs checks the status code", o.key)
		}
	}
}

// statusCode reads status_code CODE|FROM-TO ...: xdpvs expects one code.
func (t *translator) statusCode(c *check, o *node) {
	first, _, _ := strings.Cut(o.arg(0), "-")
	v, err := strconv.Atoi(first)
	if err != nil || v < 100 || v > 599 {
		t.note(o, "status_code %s not translated: not a status code", strings.Join(o.args, " "))
		return
	}
	c.expect = v
	if len(o.args) > 1 || strings.Contains(o.arg(0), "-") {
		t.note(o, "status_code %s translated to --expect %d: xdpvs expects one status code", strings.Join(o.args, " "), v)
	}
}

// health is the options of the --health lines of a service: its real servers' checkers made one
// (the first's, when they differ), keepalived's timing in xdpvs's terms; for its addresses' services
// and for its marks' (whose check always names its port).
func (t *translator) health(s *service) (addrs, marks string) {
	var first *check
	var firstRS *realServer
	unchecked := 0
	for _, rs := range s.servers {
		if len(rs.checks) == 0 {
			unchecked++
			continue
		}
		if len(rs.checks) > 1 {
			t.note(rs.checks[1].n, "second checker of real_server %s not translated: xdpvs checks a server once (the first checker)", rs.addr)
		}
		c := rs.checks[0]
		if first == nil {
			first, firstRS = c, rs
			continue
		}
		mark := s.hasMark()
		if t.checkOptions(s, c, rs, mark) != t.checkOptions(s, first, firstRS, mark) {
			t.note(c.n, "%s of real_server %s differs from the first real server's: xdpvs checks every real server of a service alike, with the first one's check", c.n.key, rs.addr)
		}
	}
	if first == nil {
		if s.sorry != nil {
			t.note(s.sorry, "sorry_server not translated: xdpvs uses a sorry server when health checks find no real server up, and this service has none")
		}
		return "", ""
	}
	if unchecked > 0 {
		t.note(s.n, "%d real servers without a checker: xdpvs checks them too, with the service's check", unchecked)
	}
	t.retryTiming(s, first)
	tail := t.onFail(s) + t.sorry(s)
	return t.checkOptions(s, first, firstRS, false) + tail, t.checkOptions(s, first, firstRS, true) + tail
}

// retryTiming names the difference of keepalived's retries (delay_before_retry apart) from
// xdpvs's (every check --interval apart) when it changes how soon a server is taken out.
func (t *translator) retryTiming(s *service, c *check) {
	interval := s.delayLoop
	if c.delay != 0 {
		interval = c.delay
	}
	if c.retry == 0 || c.retryGap == interval {
		return
	}
	t.note(c.n, "delay_before_retry %s not translated: xdpvs retries at the check interval, so a dead server is out after about %s (keepalived: about %s)",
		c.retryGap, time.Duration(c.retry+1)*interval, interval+time.Duration(c.retry)*c.retryGap)
}

// checkOptions are the options of c on the --health line of s, for real server rs; of a fwmark
// service when mark.
func (t *translator) checkOptions(s *service, c *check, rs *realServer, mark bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, " --check %s", c.kind)
	rport := rs.port
	if rport == 0 {
		rport = s.port()
	}
	// A fwmark service's check names its port: connect_port, else the real server's.
	port := c.port
	if port == 0 && mark {
		port = rs.port
	}
	if port != 0 && (port != rport || mark) {
		fmt.Fprintf(&b, " --check-port %d", port)
	}
	if c.script != "" {
		fmt.Fprintf(&b, " --script %s", c.script)
	}
	if c.kind == model.CheckHTTP || c.kind == model.CheckHTTPS {
		path := c.path
		if path == "" {
			path = "/"
		}
		fmt.Fprintf(&b, " --path %s", path)
		host := c.host
		if host == "" {
			host = s.host
		}
		if host != "" {
			fmt.Fprintf(&b, " --host %s", host)
		}
		expect := c.expect
		if expect == 0 {
			expect = model.DefaultExpect
		}
		fmt.Fprintf(&b, " --expect %d", expect)
	}
	interval := s.delayLoop
	if c.delay != 0 {
		interval = c.delay
	}
	interval = min(max(interval, model.MinCheckInterval), model.MaxCheckInterval)
	timeout := min(max(c.timeout, model.MinCheckTimeout), interval)
	fall := min(c.retry+1, model.MaxRiseFall)
	fmt.Fprintf(&b, " --interval %s --timeout %s --rise 1 --fall %d", interval, timeout, fall)
	return b.String()
}

func (t *translator) onFail(s *service) string {
	inhibit, other := 0, 0
	for _, rs := range s.servers {
		if rs.inhibit || s.inhibit {
			inhibit++
		} else {
			other++
		}
	}
	if inhibit > 0 && other > 0 {
		t.note(s.n, "inhibit_on_failure on %d of %d real servers: xdpvs does the same to every server of a service: --on-fail %s",
			inhibit, inhibit+other, map[bool]string{true: "quiesce", false: "remove"}[inhibit >= other])
	}
	if inhibit >= other {
		return " --on-fail quiesce"
	}
	return " --on-fail remove"
}

// hasMark says whether the service has a fwmark service (a virtual_server fwmark, or a group's
// fwmark entry).
func (s *service) hasMark() bool {
	return slices.ContainsFunc(s.keys, func(k svcKey) bool { return k.mark != 0 })
}

// port is the port of the service's first address (0 when it has only marks): a real server's
// port when it names none.
func (s *service) port() uint16 {
	for _, k := range s.keys {
		if k.mark == 0 {
			return k.ap.Port()
		}
	}
	return 0
}

func (t *translator) sorry(s *service) string {
	if s.sorry == nil {
		return ""
	}
	ap, ok := addrPort(s.sorry.arg(0), s.sorry.arg(1))
	if !ok && s.sorry.arg(1) == "" {
		ap, ok = addrPort(s.sorry.arg(0), strconv.Itoa(int(s.port())))
	}
	if !ok {
		t.note(s.sorry, "sorry_server %s not translated: want an address and a port", strings.Join(s.sorry.args, " "))
		return ""
	}
	fwd := s.fwd
	if s.sorryFwd != "" {
		fwd = s.sorryFwd
	}
	return fmt.Sprintf(" --sorry %s %s", ap, fwd)
}
