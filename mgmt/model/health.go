package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The kinds of health check.
const (
	CheckNone   = ""
	CheckTCP    = "tcp"
	CheckHTTP   = "http"
	CheckHTTPS  = "https"
	CheckUDP    = "udp"
	CheckScript = "script"
)

// CheckKinds are the kinds of health check, as the usage and the errors list them.
var CheckKinds = []string{CheckTCP, CheckHTTP, CheckHTTPS, CheckUDP, CheckScript}

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
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration ("2s", "500ms") or a number of seconds, as keepalived counts.
func ParseDuration(s string) (time.Duration, error) {
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

// FillDefaults sets what was left out.
func (h *HealthSpec) FillDefaults() {
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
func checkHealthSpec(s *Service, h *HealthSpec) error {
	if !h.Enabled() {
		if *h != (HealthSpec{}) {
			return errors.New("health check options without --check")
		}
		return nil
	}
	switch h.Check {
	case CheckTCP, CheckHTTP, CheckHTTPS, CheckUDP, CheckScript:
	default:
		return fmt.Errorf("unknown health check `%s' (%s or none)", h.Check, strings.Join(CheckKinds, ", "))
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
	switch {
	case s.FWMark != 0:
		// A fwmark service takes TCP and UDP on many ports: the check names its port (keepalived's
		// connect_port), and its kind its protocol.
		if h.Check != CheckScript && h.CheckPort == 0 {
			return fmt.Errorf("a %s check of a fwmark service needs the port to probe: --check-port PORT", h.Check)
		}
	case h.Check == CheckUDP && s.Protocol != UDP:
		return errors.New("a udp check is for UDP services")
	case (h.Check == CheckTCP || web) && s.Protocol != TCP:
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
		if s.FindDest(d.Address, d.Port) >= 0 {
			return errors.New("the sorry server is one of the real servers")
		}
	} else if h.SorryForward != 0 {
		return errors.New("a forwarding method without --sorry")
	}
	return nil
}
