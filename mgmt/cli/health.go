package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// parseHealth parses `--health -t|-u VIP:PORT --check KIND [options]`.
func parseHealth(args []string) (*model.Command, error) {
	c := &model.Command{Op: model.OpHealth, Health: &model.HealthSpec{}}
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
			proto := model.TCP
			if name == "-u" || name == "--udp-service" {
				proto = model.UDP
			}
			c.HasService = true
			c.Service.ServiceKey = model.ServiceKey{Protocol: proto, Address: a, Port: port}
		case "--check":
			h.Check = val
			if val == "none" {
				h.Check = model.CheckNone
			} else if !slices.Contains(model.CheckKinds, val) {
				return nil, parseErr("unknown health check `%s' (%s or none)", val, strings.Join(model.CheckKinds, ", "))
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
			if d, err = model.ParseDuration(val); err != nil {
				return nil, parseErr("%s: %v", name, err)
			}
			if d == 0 {
				return nil, parseErr("%s: must be more than 0", name)
			}
			if name == "--interval" {
				h.Interval = model.Duration(d)
			} else {
				h.Timeout = model.Duration(d)
			}
		case "--rise", "--fall":
			n, ok := numberArg(val, 1, model.MaxRiseFall)
			if !ok {
				return nil, parseErr("%s `%s' must be in [1, %d]", name, val, model.MaxRiseFall)
			}
			if name == "--rise" {
				h.Rise = int(n)
			} else {
				h.Fall = int(n)
			}
		case "--on-fail":
			if val != model.OnFailQuiesce && val != model.OnFailRemove {
				return nil, parseErr("unknown --on-fail `%s' (quiesce or remove)", val)
			}
			h.OnFail = val
		case "--sorry":
			sorry = val
		case "-m", "--masquerading":
			h.SorryForward, fwdGiven = model.Masq, true
		case "-g", "--gatewaying":
			h.SorryForward, fwdGiven = model.Route, true
		case "-i", "--ipip":
			h.SorryForward, fwdGiven = model.Tunnel, true
		case "-b", "--fullnat":
			h.SorryForward, fwdGiven = model.FullNAT, true
		default:
			return nil, parseErr("%s: unknown option for --health", name)
		}
	}
	if !c.HasService {
		return nil, parseErr("You need to supply the 'service-address' option for the 'health' command")
	}
	if !seen["--check"] {
		return nil, parseErr("--health needs --check %s or none", strings.Join(model.CheckKinds, "|"))
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
			h.SorryForward = model.Route // as -a: gatewaying unless told
		}
	} else if fwdGiven {
		return nil, parseErr("a forwarding method goes with --sorry")
	}
	if !h.Enabled() {
		if *h != (model.HealthSpec{}) {
			return nil, parseErr("--check none takes no other health option")
		}
		return c, nil
	}
	h.FillDefaults()
	return c, nil
}

// healthArgs writes a spec as the options of an -S line.
func healthArgs(h *model.HealthSpec) string {
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
		fmt.Fprintf(&b, " --sorry %s %s", addrPort(h.Sorry.Addr(), h.Sorry.Port()), forwardSwitch(h.SorryForward))
	}
	return b.String()
}
