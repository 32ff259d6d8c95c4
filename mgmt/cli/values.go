package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/model"
	"github.com/xdpvs/xdpvs/sched"
)

// The setters of ipvsadm's options. They run once the line is read and its command's needs are
// checked, in the table's order: -t/-u before what depends on the service, -s before -b, -r
// before -m/-i/-g/-b, -w, -x and -y. An empty argument (--weight=) leaves a value as it is, as
// ipvsadm's parser does.

func setService(proto model.Protocol) setter {
	return func(p *parser, arg string, _ bool) error {
		a, port, _, ok := parseAddrPort(arg)
		if !ok {
			return parseErr("illegal virtual server address[:port] specified")
		}
		p.c.HasService = true
		p.c.Service.ServiceKey = model.ServiceKey{Protocol: proto, Address: a, Port: port}
		return nil
	}
}

func setScheduler(p *parser, arg string, _ bool) error {
	p.c.Service.Scheduler = arg
	return nil
}

func setPersistent(p *parser, arg string, given bool) error {
	svc := &p.c.Service
	svc.Persistent = true
	svc.Timeout = model.DefaultPersistence
	if given && arg != "" {
		v, err := timeoutArg(arg, 1)
		if err != nil {
			return err
		}
		svc.Timeout = v
	}
	return nil
}

func setNetmask(p *parser, arg string, _ bool) error {
	if arg == "" {
		return nil
	}
	bits, err := parseNetmask(arg, p.c.Service.Address.Is6())
	p.c.Service.Netmask = bits
	return err
}

func setSchedFlags(p *parser, arg string, _ bool) error {
	if arg == "" {
		return nil
	}
	f, size, err := parseSchedFlags(p.c.Service.Scheduler, arg)
	p.c.Service.SchedFlags, p.c.Service.MHSize = f, size
	return err
}

func setSynProxy(p *parser, arg string, given bool) error {
	if !given {
		arg = "enable"
	}
	switch arg {
	case "": // --synproxy=
	case "enable", "1", "on":
		p.c.Service.SynProxy = true
	case "disable", "0", "off":
	default:
		return parseErr("invalid synproxy value `%s' specified (enable or disable)", arg)
	}
	return nil
}

func setProxyProtocol(p *parser, arg string, _ bool) error {
	switch arg {
	case "disable", "off", "": // DPVS's disable: none
		p.c.Service.ProxyProtocol = ""
	case "v1", "v2":
		p.c.Service.ProxyProtocol = arg
	default:
		return parseErr("invalid proxy-protocol value `%s' specified (v1, v2 or disable)", arg)
	}
	return nil
}

func setPolicy(p *parser, arg string, _ bool) error {
	if arg == "" {
		return nil
	}
	pol, err := ParsePolicy(arg)
	p.c.Service.Policy = pol
	return err
}

// setMinServers is --bgp-min-servers N: the real servers that must be available for the VIP to be
// announced over BGP.
func setMinServers(p *parser, arg string, _ bool) error {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > model.MaxMinServers {
		return parseErr("invalid --bgp-min-servers `%s' specified (1 to %d)", arg, model.MaxMinServers)
	}
	p.c.Service.MinServers = n
	return nil
}

// setServer sets the real server, its port the service's unless given, gatewaying and weight 1
// unless the options that follow it in the table say otherwise.
func setServer(p *parser, arg string, _ bool) error {
	a, port, hasPort, ok := parseAddrPort(arg)
	if !ok {
		return parseErr("illegal real server address[:port] specified")
	}
	if !hasPort {
		port = p.c.Service.Port
	}
	p.c.Server = model.RealServerSpec{Address: a, Port: port, Forward: model.Route, Weight: 1}
	return nil
}

func setForward(f model.Forward) setter {
	return func(p *parser, _ string, _ bool) error {
		p.c.Server.Forward = f
		return nil
	}
}

// setNumber is the setter of a number in [0, max]; msg is ipvsadm's error.
func setNumber(max int64, msg string, field func(*model.RealServerSpec) *uint32) setter {
	return func(p *parser, arg string, _ bool) error {
		if arg == "" {
			return nil
		}
		n, ok := numberArg(arg, 0, max)
		if !ok {
			return parseErr("%s", msg)
		}
		*field(&p.c.Server) = uint32(n)
		return nil
	}
}

var (
	setWeight = setNumber(model.MaxWeight, "illegal weight specified",
		func(d *model.RealServerSpec) *uint32 { return &d.Weight })
	setUThreshold = setNumber(model.MaxThreshold, "illegal u_threshold specified",
		func(d *model.RealServerSpec) *uint32 { return &d.UThreshold })
	setLThreshold = setNumber(model.MaxThreshold, "illegal l_threshold specified",
		func(d *model.RealServerSpec) *uint32 { return &d.LThreshold })
)

func setLocalAddr(p *parser, arg string, _ bool) error {
	a, err := netip.ParseAddr(strings.Trim(arg, "[]"))
	if err != nil || a.Zone() != "" {
		return parseErr("illegal local address specified")
	}
	p.c.LocalAddr = a
	return nil
}

func setIfname(p *parser, arg string, _ bool) error {
	if err := model.CheckIfname(arg); err != nil || arg == "" {
		return parseErr("illegal interface name specified")
	}
	p.c.Ifname = arg
	return nil
}

// ipipOnly is --tun-type's check: ipip, the tunnels -i makes, is the only type xdpvs has.
func ipipOnly(name, arg string) error {
	switch arg {
	case "ipip":
		return nil
	case "gue", "gre":
		return parseErr("%s %s: %s tunnels are not supported by xdpvs: -i tunnels are IPIP (IPv6-in-IPv6)", name, arg, strings.ToUpper(arg))
	}
	return parseErr("illegal tunnel type specified")
}

// setTunType takes --tun-type ipip on a tunnelled real server, as ipvsadm takes tunnel types.
func setTunType(p *parser, _ string, _ bool) error {
	if p.c.Server.Forward != model.Tunnel {
		return parseErr("--tun-type is only for tunnelled (-i) real servers")
	}
	return nil
}

// jsonOnly is --output's check: json is the only format besides ipvsadm's.
func jsonOnly(name, arg string) error {
	if arg != "json" {
		return parseErr("%s: unknown format `%s' (only json)", name, arg)
	}
	return nil
}

// commandChecks are what a command checks once its options are set, as ipvsadm does.
var commandChecks = map[model.Op]func(c *model.Command) error{
	model.OpAddService:  checkService,
	model.OpEditService: checkService,
	model.OpAddServer:   checkServerPort,
	model.OpEditServer:  checkServerPort,
	model.OpAddMark:     checkMark,
	model.OpDelMark:     checkMark,
}

// checkService gives the persistence mask its default and refuses what ipvsadm refuses: a zero
// port without persistence, one-packet scheduling of TCP.
func checkService(c *model.Command) error {
	svc := &c.Service
	if svc.Netmask == 0 {
		svc.Netmask = model.FullMask(svc.Address)
	}
	if svc.Port == 0 && !svc.Persistent && svc.FWMark == 0 {
		return parseErr("Zero port specified for non-persistent service")
	}
	if svc.OnePacket && svc.Protocol != model.UDP {
		return parseErr("One-Packet Scheduling is only for UDP virtual services")
	}
	return nil
}

// checkServerPort refuses a real server port that gatewaying or ipip cannot give (IPVS ignores it).
func checkServerPort(c *model.Command) error {
	d, svc := &c.Server, &c.Service
	if (d.Forward == model.Route || d.Forward == model.Tunnel) && d.Port != svc.Port {
		return parseErr("real server port %d differs from the service port %d: %s forwarding cannot change the port (use -m or -b)",
			d.Port, svc.Port, map[model.Forward]string{model.Route: "gatewaying (-g)", model.Tunnel: "ipip (-i)"}[d.Forward])
	}
	return nil
}

// numberArg is ipvsadm's string_to_number: a decimal in [min, max].
func numberArg(s string, min, max int64) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil || n < min || n > max {
		return 0, false
	}
	return n, true
}

func timeoutArg(s string, min int64) (uint32, error) {
	n, ok := numberArg(s, min, model.MaxTimeout)
	if !ok {
		return 0, parseErr("invalid timeout value `%s' specified", s)
	}
	return uint32(n), nil
}

// parseAddrPort is ipvsadm's parse_service without name lookups: "198.18.0.1", "198.18.0.1:80",
// "2001:2::1" or "[2001:2::1]:80". Names are refused: there is no DNS on a director.
func parseAddrPort(s string) (a netip.Addr, port uint16, hasPort, ok bool) {
	if s == "" {
		return
	}
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		switch {
		case end < 0:
			return
		case end+1 == len(s): // "[2001:2::1]": no port
			host = s[1:end]
		case s[end+1] != ':':
			return
		default:
			host, portStr, hasPort = s[1:end], s[end+2:], true
		}
	} else if v6, err := netip.ParseAddr(s); err == nil && v6.Is6() {
		host = s
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, portStr, hasPort = s[:i], s[i+1:], true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return
	}
	if strings.HasPrefix(s, "[") != addr.Is6() && strings.HasPrefix(s, "[") {
		return // brackets are for IPv6 only
	}
	if hasPort {
		n, good := numberArg(portStr, 0, 65535)
		if !good || portStr == "" || portStr[0] == '+' {
			return
		}
		port = uint16(n)
	}
	return addr, port, hasPort, true
}

// parseNetmask reads -M: a dotted mask for IPv4 (contiguous), a prefix length 1..128 for IPv6.
func parseNetmask(s string, v6 bool) (int, error) {
	if v6 {
		n, ok := numberArg(s, 1, 128)
		if !ok {
			return 0, parseErr("illegal ipv6 netmask specified")
		}
		return int(n), nil
	}
	m, err := netip.ParseAddr(s)
	if err != nil || !m.Is4() {
		return 0, parseErr("illegal virtual server persistent mask specified")
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for v&(1<<31) != 0 {
		bits++
		v <<= 1
	}
	if v != 0 || bits == 0 {
		return 0, parseErr("illegal virtual server persistent mask specified (it must be contiguous, like 255.255.255.0)")
	}
	return bits, nil
}

// parseSchedFlags is ipvsadm's parse_sched_flags, and xdpvs's mh-size=N: the size of mh's table.
func parseSchedFlags(scheduler, arg string) (f control.ServiceFlags, mhSize int, err error) {
	if scheduler == "" {
		scheduler = model.DefaultScheduler()
	}
	for _, flag := range strings.Split(arg, ",") {
		switch {
		case strings.HasPrefix(flag, "mh-size=") && scheduler == "mh":
			n, err := strconv.Atoi(flag[len("mh-size="):])
			if err == nil {
				err = sched.CheckMHSize(n)
			}
			if err != nil {
				return 0, 0, parseErr("invalid mh flag `%s': the size of mh's table is a prime from %d to %d, e.g. 4093 (the default), 8191, 16381, 65521",
					flag, sched.MHMinSize, sched.MHMaxSize)
			}
			mhSize = n
		case flag == "flag-1":
			f |= control.ServiceSchedFlag1
		case flag == "flag-2":
			f |= control.ServiceSchedFlag2
		case flag == "flag-3":
			f |= control.ServiceSchedFlag3
		case strings.HasPrefix(flag, "sh-") && scheduler == "sh",
			strings.HasPrefix(flag, "mh-") && scheduler == "mh":
			switch flag[3:] {
			case "fallback":
				f |= control.ServiceSchedFlag1
			case "port":
				f |= control.ServiceSchedFlag2
			default:
				return 0, 0, parseErr("invalid %s flag `%s'", scheduler, flag)
			}
		default:
			return 0, 0, parseErr("invalid scheduler flag `%s'", flag)
		}
	}
	return f, mhSize, nil
}

// schedFlagNames is ipvsadm's print_sched_flags: the flags comma-separated, and mh-size=N when
// the size of mh's table is not the default.
func schedFlagNames(scheduler string, f control.ServiceFlags, mhSize int) string {
	var names []string
	one, two := "flag-1", "flag-2"
	if scheduler == "sh" || scheduler == "mh" {
		one, two = scheduler+"-fallback", scheduler+"-port"
	}
	if f&control.ServiceSchedFlag1 != 0 {
		names = append(names, one)
	}
	if f&control.ServiceSchedFlag2 != 0 {
		names = append(names, two)
	}
	if f&control.ServiceSchedFlag3 != 0 {
		names = append(names, "flag-3")
	}
	if mhSize != 0 {
		names = append(names, fmt.Sprintf("mh-size=%d", mhSize))
	}
	return strings.Join(names, ",")
}

// policyNames are the words of --policy, each turning off one of xdpvs's defaults for real-server
// changes and moved flows (control.BackendPolicy).
var policyNames = []struct {
	name string
	bit  control.BackendPolicy
}{
	{"keep-removed-conns", control.KeepRemovedConns},
	{"no-conn-reuse", control.NoConnReuse},
	{"persist-quiescent", control.PersistToQuiescent},
	{"no-sloppy", control.NoSloppy},
	{"no-fast-path", control.NoFastPath},
}

// ParsePolicy parses --policy: a comma-separated list of policy words, or "default".
func ParsePolicy(s string) (control.BackendPolicy, error) {
	var p control.BackendPolicy
	if s == "default" {
		return 0, nil
	}
	for _, w := range strings.Split(s, ",") {
		i := slices.IndexFunc(policyNames, func(n struct {
			name string
			bit  control.BackendPolicy
		}) bool {
			return n.name == w
		})
		if i < 0 {
			return 0, parseErr("invalid policy `%s' (keep-removed-conns, no-conn-reuse, persist-quiescent, no-sloppy, no-fast-path or default)", w)
		}
		p |= policyNames[i].bit
	}
	return p, nil
}

// PolicyString is the --policy argument of p ("" for the defaults).
func PolicyString(p control.BackendPolicy) string {
	var words []string
	for _, n := range policyNames {
		if p&n.bit != 0 {
			words = append(words, n.name)
		}
	}
	return strings.Join(words, ",")
}
