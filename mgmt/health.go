package mgmt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Health checks, as keepalived runs them for LVS: per service one check (TCP connect, HTTP or
// HTTPS GET, UDP, or a script) probes every real server each interval with a timeout; fall
// consecutive failures take a server out (effective weight 0, or out of the snapshot with
// on-fail remove), rise consecutive successes bring it back. A sorry server gets the traffic
// while no real server is up. The data path's SYN timeouts (DPVS's dest-check) also take a server
// out until its active check passes again. The configured weight is never changed.
//
// One Checker per protocol, each in its own file (health_tcp.go, health_http.go, health_udp.go,
// health_script.go), as in Seesaw's healthcheck.

// Checker probes one real server. Check returns nil when the server is healthy, else the reason.
// ctx carries the check's timeout.
type Checker interface {
	Check(ctx context.Context, target netip.AddrPort) error
	String() string
}

// The kinds of health check.
const (
	CheckNone   = ""
	CheckTCP    = "tcp"
	CheckHTTP   = "http"
	CheckHTTPS  = "https"
	CheckUDP    = "udp"
	CheckScript = "script"
)

var checkKinds = []string{CheckTCP, CheckHTTP, CheckHTTPS, CheckUDP, CheckScript}

// What happens to a failed real server.
const (
	OnFailQuiesce = "quiesce" // effective weight 0: no new connections, established ones go on
	OnFailRemove  = "remove"  // out of the snapshot: its connections are no longer forwarded
)

// Health check defaults and limits.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = time.Second
	DefaultRise          = 2
	DefaultFall          = 3
	DefaultExpect        = 200
	MinCheckInterval     = 100 * time.Millisecond
	MaxCheckInterval     = time.Hour
	MinCheckTimeout      = 10 * time.Millisecond
	MaxRiseFall          = 100
	maxHealthText        = 256 // bytes of --path, --host, --send, --receive, --script
)

// Duration is a time.Duration written as Go writes durations ("2s", "500ms") in JSON and in -S.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration or a number of seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second)), nil // keepalived counts in seconds
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration `%s' (like 2s or 500ms)", s)
	}
	return v, nil
}

// HealthSpec is a service's health check as configured (`xdpvsadm --health`). A zero Check means
// none. It is comparable.
type HealthSpec struct {
	Check     string   `json:"check"`
	CheckPort uint16   `json:"check_port,omitempty"` // probe this port instead of the real server's
	Path      string   `json:"path,omitempty"`       // http, https: default "/"
	Host      string   `json:"host,omitempty"`       // http, https: Host header and TLS server name
	Expect    int      `json:"expect,omitempty"`     // http, https: status code (default 200)
	Send      string   `json:"send,omitempty"`       // udp: the datagram
	Receive   string   `json:"receive,omitempty"`    // udp: the reply must contain this (else: no ICMP error)
	Script    string   `json:"script,omitempty"`     // script: absolute path, run as SCRIPT RIP RPORT
	Interval  Duration `json:"interval"`
	Timeout   Duration `json:"timeout"`
	Rise      int      `json:"rise"`
	Fall      int      `json:"fall"`
	OnFail    string   `json:"on_fail"`
	// Sorry is the sorry server, which gets the traffic (weight 1) while no real server is up.
	Sorry        netip.AddrPort `json:"sorry,omitzero"`
	SorryForward Forward        `json:"sorry_forward,omitempty"`
}

// Enabled reports whether a check is configured.
func (h *HealthSpec) Enabled() bool { return h.Check != CheckNone }

// fillDefaults sets what was left out.
func (h *HealthSpec) fillDefaults() {
	if !h.Enabled() {
		return
	}
	if h.Interval == 0 {
		h.Interval = Duration(DefaultCheckInterval)
	}
	if h.Timeout == 0 {
		h.Timeout = Duration(min(DefaultCheckTimeout, time.Duration(h.Interval)))
	}
	if h.Rise == 0 {
		h.Rise = DefaultRise
	}
	if h.Fall == 0 {
		h.Fall = DefaultFall
	}
	if h.OnFail == "" {
		h.OnFail = OnFailQuiesce
	}
	if h.Check == CheckHTTP || h.Check == CheckHTTPS {
		if h.Path == "" {
			h.Path = "/"
		}
		if h.Expect == 0 {
			h.Expect = DefaultExpect
		}
	}
}

// plainText accepts text that survives a -S line: printable, no spaces.
func plainText(what, s string) error {
	if len(s) > maxHealthText {
		return fmt.Errorf("%s longer than %d bytes", what, maxHealthText)
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%s %q: only printable ASCII without spaces", what, s)
		}
	}
	return nil
}

// checkHealthSpec validates a health check of service s (defaults already filled).
func checkHealthSpec(s *service, h *HealthSpec) error {
	if !h.Enabled() {
		if *h != (HealthSpec{}) {
			return errors.New("health check options without --check")
		}
		return nil
	}
	switch h.Check {
	case CheckTCP, CheckHTTP, CheckHTTPS, CheckUDP, CheckScript:
	default:
		return fmt.Errorf("unknown health check `%s' (%s or none)", h.Check, strings.Join(checkKinds, ", "))
	}
	iv, to := time.Duration(h.Interval), time.Duration(h.Timeout)
	if iv < MinCheckInterval || iv > MaxCheckInterval {
		return fmt.Errorf("health check interval %v out of range [%v, %v]", iv, MinCheckInterval, MaxCheckInterval)
	}
	if to < MinCheckTimeout || to > iv {
		return fmt.Errorf("health check timeout %v out of range [%v, interval %v]", to, MinCheckTimeout, iv)
	}
	if h.Rise < 1 || h.Rise > MaxRiseFall || h.Fall < 1 || h.Fall > MaxRiseFall {
		return fmt.Errorf("rise %d and fall %d must be in [1, %d]", h.Rise, h.Fall, MaxRiseFall)
	}
	if h.OnFail != OnFailQuiesce && h.OnFail != OnFailRemove {
		return fmt.Errorf("unknown --on-fail `%s' (quiesce or remove)", h.OnFail)
	}
	web := h.Check == CheckHTTP || h.Check == CheckHTTPS
	if !web && (h.Path != "" || h.Host != "" || h.Expect != 0) {
		return fmt.Errorf("--path, --host and --expect are for http and https checks")
	}
	if web {
		if !strings.HasPrefix(h.Path, "/") {
			return fmt.Errorf("--path %q must start with /", h.Path)
		}
		if h.Expect < 100 || h.Expect > 599 {
			return fmt.Errorf("--expect %d is not an HTTP status", h.Expect)
		}
	}
	if h.Check != CheckUDP && (h.Send != "" || h.Receive != "") {
		return errors.New("--send and --receive are for udp checks")
	}
	if h.Check == CheckUDP && s.Protocol != UDP {
		return errors.New("a udp check is for UDP services")
	}
	if (h.Check == CheckTCP || web) && s.Protocol != TCP {
		return fmt.Errorf("a %s check is for TCP services", h.Check)
	}
	if (h.Check == CheckScript) != (h.Script != "") {
		return errors.New("--script PATH goes with --check script, and only with it")
	}
	if h.Check == CheckScript && !strings.HasPrefix(h.Script, "/") {
		return fmt.Errorf("--script %q: an absolute path is needed", h.Script)
	}
	for _, t := range []struct{ what, v string }{{"--path", h.Path}, {"--host", h.Host}, {"--send", h.Send},
		{"--receive", h.Receive}, {"--script", h.Script}} {
		if err := plainText(t.what, t.v); err != nil {
			return err
		}
	}
	if h.Sorry.IsValid() {
		d := RealServerSpec{Address: h.Sorry.Addr(), Port: h.Sorry.Port(), Forward: h.SorryForward, Weight: 1}
		if err := checkDest(s, &d); err != nil {
			return fmt.Errorf("sorry server: %w", err)
		}
		if s.findDest(d.Address, d.Port) >= 0 {
			return errors.New("the sorry server is one of the real servers")
		}
	} else if h.SorryForward != 0 {
		return errors.New("a forwarding method without --sorry")
	}
	return nil
}

// checkerFor builds the Checker of a spec.
func checkerFor(h *HealthSpec, svc ServiceKey, dial dialFunc) Checker {
	switch h.Check {
	case CheckTCP:
		return &tcpChecker{dial: dial}
	case CheckHTTP, CheckHTTPS:
		return newHTTPChecker(h, dial)
	case CheckUDP:
		return &udpChecker{dial: dial, send: []byte(h.Send), receive: h.Receive}
	case CheckScript:
		return &scriptChecker{path: h.Script, svc: svc}
	}
	return nil
}

type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func defaultDial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// parseHealth parses `--health -t|-u VIP:PORT --check KIND [options]`.
func parseHealth(args []string) (*Command, error) {
	c := &Command{Op: OpHealth, Health: &HealthSpec{}}
	h := c.Health
	seen := map[string]bool{}
	var sorry string
	fwdGiven := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		if strings.HasPrefix(a, "--") {
			name, val, hasVal = strings.Cut(a, "=")
		}
		takesArg := true
		switch name {
		case "--health", "-m", "-g", "-i", "-b", "--masquerading", "--gatewaying", "--ipip", "--fullnat":
			takesArg = false
		}
		if takesArg && !hasVal {
			if i+1 >= len(args) {
				return nil, parseErr("%s: missing argument", name)
			}
			i++
			val = args[i]
		} else if !takesArg && hasVal {
			return nil, parseErr("%s: option does not take an argument", name)
		}
		key := name
		switch name {
		case "-t", "--tcp-service", "-u", "--udp-service":
			key = "service"
		case "-m", "-g", "-i", "-b", "--masquerading", "--gatewaying", "--ipip", "--fullnat":
			key = "forward"
		}
		if seen[key] {
			return nil, parseErr("multiple '%s' options specified", strings.TrimLeft(key, "-"))
		}
		seen[key] = true
		var err error
		switch name {
		case "--health":
		case "-t", "--tcp-service", "-u", "--udp-service":
			a, port, _, ok := parseAddrPort(val)
			if !ok {
				return nil, parseErr("illegal virtual server address[:port] specified")
			}
			proto := TCP
			if name == "-u" || name == "--udp-service" {
				proto = UDP
			}
			c.HasService = true
			c.Service.ServiceKey = ServiceKey{Protocol: proto, Address: a, Port: port}
		case "--check":
			h.Check = val
			if val == "none" {
				h.Check = CheckNone
			} else if !slices.Contains(checkKinds, val) {
				return nil, parseErr("unknown health check `%s' (%s or none)", val, strings.Join(checkKinds, ", "))
			}
		case "--check-port":
			n, ok := numberArg(val, 1, 65535)
			if !ok {
				return nil, parseErr("illegal --check-port `%s'", val)
			}
			h.CheckPort = uint16(n)
		case "--path":
			h.Path = val
		case "--host":
			h.Host = val
		case "--expect":
			n, ok := numberArg(val, 100, 599)
			if !ok {
				return nil, parseErr("--expect `%s' is not an HTTP status", val)
			}
			h.Expect = int(n)
		case "--send":
			h.Send = val
		case "--receive":
			h.Receive = val
		case "--script":
			h.Script = val
		case "--interval", "--timeout":
			var d time.Duration
			if d, err = parseDuration(val); err != nil {
				return nil, parseErr("%s: %v", name, err)
			}
			if d == 0 {
				return nil, parseErr("%s: must be more than 0", name)
			}
			if name == "--interval" {
				h.Interval = Duration(d)
			} else {
				h.Timeout = Duration(d)
			}
		case "--rise", "--fall":
			n, ok := numberArg(val, 1, MaxRiseFall)
			if !ok {
				return nil, parseErr("%s `%s' must be in [1, %d]", name, val, MaxRiseFall)
			}
			if name == "--rise" {
				h.Rise = int(n)
			} else {
				h.Fall = int(n)
			}
		case "--on-fail":
			if val != OnFailQuiesce && val != OnFailRemove {
				return nil, parseErr("unknown --on-fail `%s' (quiesce or remove)", val)
			}
			h.OnFail = val
		case "--sorry":
			sorry = val
		case "-m", "--masquerading":
			h.SorryForward, fwdGiven = Masq, true
		case "-g", "--gatewaying":
			h.SorryForward, fwdGiven = Route, true
		case "-i", "--ipip":
			h.SorryForward, fwdGiven = Tunnel, true
		case "-b", "--fullnat":
			h.SorryForward, fwdGiven = FullNAT, true
		default:
			return nil, parseErr("%s: unknown option for --health", name)
		}
	}
	if !c.HasService {
		return nil, parseErr("You need to supply the 'service-address' option for the 'health' command")
	}
	if !seen["--check"] {
		return nil, parseErr("--health needs --check %s or none", strings.Join(checkKinds, "|"))
	}
	if sorry != "" {
		a, port, hasPort, ok := parseAddrPort(sorry)
		if !ok {
			return nil, parseErr("illegal sorry server address[:port] specified")
		}
		if !hasPort {
			port = c.Service.Port
		}
		h.Sorry = netip.AddrPortFrom(a, port)
		if !fwdGiven {
			h.SorryForward = Route // as -a: gatewaying unless told
		}
	} else if fwdGiven {
		return nil, parseErr("a forwarding method goes with --sorry")
	}
	if !h.Enabled() {
		if *h != (HealthSpec{}) {
			return nil, parseErr("--check none takes no other health option")
		}
		return c, nil
	}
	h.fillDefaults()
	return c, nil
}

// healthArgs writes a spec as the options of an -S line.
func healthArgs(h *HealthSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--check %s", h.Check)
	if h.CheckPort != 0 {
		fmt.Fprintf(&b, " --check-port %d", h.CheckPort)
	}
	if h.Script != "" {
		fmt.Fprintf(&b, " --script %s", h.Script)
	}
	if h.Path != "" {
		fmt.Fprintf(&b, " --path %s", h.Path)
	}
	if h.Host != "" {
		fmt.Fprintf(&b, " --host %s", h.Host)
	}
	if h.Expect != 0 {
		fmt.Fprintf(&b, " --expect %d", h.Expect)
	}
	if h.Send != "" {
		fmt.Fprintf(&b, " --send %s", h.Send)
	}
	if h.Receive != "" {
		fmt.Fprintf(&b, " --receive %s", h.Receive)
	}
	fmt.Fprintf(&b, " --interval %s --timeout %s --rise %d --fall %d --on-fail %s",
		time.Duration(h.Interval), time.Duration(h.Timeout), h.Rise, h.Fall, h.OnFail)
	if h.Sorry.IsValid() {
		fmt.Fprintf(&b, " --sorry %s %s", addrPort(h.Sorry.Addr(), h.Sorry.Port()), h.SorryForward.switchName())
	}
	return b.String()
}
