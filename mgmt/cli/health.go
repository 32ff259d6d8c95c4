package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The --health line: `--health -t|-u VIP:PORT --check KIND [options]`. Every word is an option
// (--name, --name=ARG or -x) and every option but --health and the forwarding methods takes an
// argument, so an unknown word takes one too before it is refused.

// healthWord reads one option of a --health line.
func (p *parser) healthWord(a string) error {
	name, arg, given := a, "", false
	if strings.HasPrefix(a, "--") {
		name, arg, given = strings.Cut(a, "=")
	}
	var o *option
	switch {
	case strings.HasPrefix(name, "--"):
		o = findLong(name[2:], true)
	case len(name) == 2 && name[0] == '-':
		o = findShort(name[1], true)
	}
	takesArg := o == nil || o.arg != argNone
	switch {
	case takesArg && !given:
		if arg, given = p.next(); !given {
			return parseErr("%s: missing argument", name)
		}
	case !takesArg && given:
		return parseErr("%s: option does not take an argument", name)
	}
	if o == nil {
		return parseErr("%s: unknown option for --health", name)
	}
	return p.use(o, name, arg, given)
}

// finishHealth checks a --health line: a service, a check (or none), the sorry server with its
// method; then the defaults of what was left out.
func (p *parser) finishHealth() (*model.Command, error) {
	c, h := &p.c, p.c.Health
	if !c.HasService {
		return nil, parseErr("You need to supply the 'service-address' option for the 'health' command")
	}
	if _, ok := p.given["check"]; !ok {
		return nil, parseErr("--health needs --check %s or none", strings.Join(model.CheckKinds, "|"))
	}
	_, fwdGiven := p.given["forward"]
	if sorry, ok := p.given["sorry"]; ok {
		a, port, hasPort, ok := parseAddrPort(sorry.arg)
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

// The setters of the --health options, run as each is read.

func setCheck(p *parser, arg string, _ bool) error {
	switch {
	case arg == "none":
		p.c.Health.Check = model.CheckNone
	case slices.Contains(model.CheckKinds, arg):
		p.c.Health.Check = arg
	default:
		return parseErr("unknown health check `%s' (%s or none)", arg, strings.Join(model.CheckKinds, ", "))
	}
	return nil
}

func setCheckPort(p *parser, arg string, _ bool) error {
	n, ok := numberArg(arg, 1, 65535)
	if !ok {
		return parseErr("illegal --check-port `%s'", arg)
	}
	p.c.Health.CheckPort = uint16(n)
	return nil
}

func setExpect(p *parser, arg string, _ bool) error {
	n, ok := numberArg(arg, 100, 599)
	if !ok {
		return parseErr("--expect `%s' is not an HTTP status", arg)
	}
	p.c.Health.Expect = int(n)
	return nil
}

func setOnFail(p *parser, arg string, _ bool) error {
	if arg != model.OnFailQuiesce && arg != model.OnFailRemove {
		return parseErr("unknown --on-fail `%s' (quiesce or remove)", arg)
	}
	p.c.Health.OnFail = arg
	return nil
}

// setText is the setter of a text option (checked by the model: printable, no spaces).
func setText(field func(*model.HealthSpec) *string) setter {
	return func(p *parser, arg string, _ bool) error {
		*field(p.c.Health) = arg
		return nil
	}
}

// setDuration is the setter of --interval and --timeout: a Go duration or seconds, not zero.
func setDuration(name string, field func(*model.HealthSpec) *model.Duration) setter {
	return func(p *parser, arg string, _ bool) error {
		d, err := model.ParseDuration(arg)
		if err != nil {
			return parseErr("%s: %v", name, err)
		}
		if d == 0 {
			return parseErr("%s: must be more than 0", name)
		}
		*field(p.c.Health) = model.Duration(d)
		return nil
	}
}

// setCount is the setter of --rise and --fall.
func setCount(name string, field func(*model.HealthSpec) *int) setter {
	return func(p *parser, arg string, _ bool) error {
		n, ok := numberArg(arg, 1, model.MaxRiseFall)
		if !ok {
			return parseErr("%s `%s' must be in [1, %d]", name, arg, model.MaxRiseFall)
		}
		*field(p.c.Health) = int(n)
		return nil
	}
}

// setSorryForward is the setter of the sorry server's forwarding method.
func setSorryForward(f model.Forward) setter {
	return func(p *parser, _ string, _ bool) error {
		p.c.Health.SorryForward = f
		return nil
	}
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
