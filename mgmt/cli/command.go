package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// ParseError is a command-line error; ipvsadm exits with status 2 on these.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func parseErr(format string, a ...any) error { return &ParseError{fmt.Sprintf(format, a...)} }

type argKind uint8

const (
	argNone argKind = iota
	argRequired
	argOptional
)

// opt is one option of the command line. cmd is set for commands, bit for options.
type opt struct {
	long  string
	short byte
	arg   argKind
	cmd   model.Op
	bit   optBit
	unsup string // not supported by xdpvs: the message
}

type optBit uint32

// Options, in the order of ipvsadm's optnames (plus the DPVS and xdpvs ones).
const (
	optNumeric optBit = 1 << iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optTimeout
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optExact
	optOnePacket
	optSchedFlags
	optSynProxy
	optLaddr
	optOutput
	optPolicy
	numOpts = iota
)

var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent", "netmask",
	"real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "timeout", "stats",
	"rate", "thresholds", "persistent-conn", "nosort", "exact", "ops", "sched-flags", "synproxy",
	"laddr", "output", "policy",
}

func (b optBit) String() string {
	for i := range numOpts {
		if b == 1<<i {
			return optNames[i]
		}
	}
	return "?"
}

const unsupDaemon = "the connection sync daemon is not supported by xdpvs"

var opts = []opt{
	{long: "add-service", short: 'A', cmd: model.OpAddService},
	{long: "edit-service", short: 'E', cmd: model.OpEditService},
	{long: "delete-service", short: 'D', cmd: model.OpDelService},
	{long: "clear", short: 'C', cmd: model.OpFlush},
	{long: "list", short: 'L', cmd: model.OpList},
	{short: 'l', cmd: model.OpList},
	{long: "zero", short: 'Z', cmd: model.OpZero},
	{long: "add-server", short: 'a', cmd: model.OpAddServer},
	{long: "edit-server", short: 'e', cmd: model.OpEditServer},
	{long: "delete-server", short: 'd', cmd: model.OpDelServer},
	{long: "set", cmd: model.OpSet},
	{long: "help", short: 'h', cmd: model.OpHelp},
	{long: "version", short: 'v', cmd: model.OpVersion},
	{long: "restore", short: 'R', cmd: model.OpRestore},
	{long: "save", short: 'S', cmd: model.OpSave},
	{long: "add-laddr", short: 'P', cmd: model.OpAddLaddr},
	{long: "del-laddr", short: 'Q', cmd: model.OpDelLaddr},
	{long: "get-laddr", short: 'G', cmd: model.OpGetLaddr},
	{long: "start-daemon", arg: argRequired, unsup: unsupDaemon},
	{long: "stop-daemon", arg: argRequired, unsup: unsupDaemon},

	{long: "tcp-service", short: 't', arg: argRequired, bit: optService},
	{long: "udp-service", short: 'u', arg: argRequired, bit: optService},
	{long: "fwmark-service", short: 'f', arg: argRequired, unsup: "fwmark services are not supported by xdpvs"},
	{long: "ipv6", short: '6', unsup: "fwmark services are not supported by xdpvs"},
	{long: "scheduler", short: 's', arg: argRequired, bit: optScheduler},
	{long: "pe", arg: argRequired, unsup: "persistence engines are not supported by xdpvs"},
	{long: "persistent", short: 'p', arg: argOptional, bit: optPersistent},
	{long: "netmask", short: 'M', arg: argRequired, bit: optNetmask},
	{long: "real-server", short: 'r', arg: argRequired, bit: optServer},
	{long: "masquerading", short: 'm', bit: optForward},
	{long: "ipip", short: 'i', bit: optForward},
	{long: "gatewaying", short: 'g', bit: optForward},
	{long: "fullnat", bit: optForward},
	{long: "sched-flags", arg: argRequired, bit: optSchedFlags},
	{long: "weight", short: 'w', arg: argRequired, bit: optWeight},
	{long: "u-threshold", short: 'x', arg: argRequired, bit: optUThreshold},
	{long: "l-threshold", short: 'y', arg: argRequired, bit: optLThreshold},
	{long: "numeric", short: 'n', bit: optNumeric},
	{long: "connection", short: 'c', bit: optConnection},
	{long: "mcast-interface", arg: argRequired, unsup: unsupDaemon},
	{long: "syncid", arg: argRequired, unsup: unsupDaemon},
	{long: "daemon", unsup: unsupDaemon},
	{long: "timeout", bit: optTimeout},
	{long: "stats", bit: optStats},
	{long: "rate", bit: optRate},
	{long: "thresholds", bit: optThresholds},
	{long: "persistent-conn", bit: optPersistentConn},
	{long: "nosort", bit: optNoSort},
	{long: "sort"},
	{long: "exact", short: 'X', bit: optExact},
	{long: "ops", bit: optOnePacket},
	{long: "output", arg: argRequired, bit: optOutput},
	{long: "synproxy", short: 'j', arg: argOptional, bit: optSynProxy},
	{long: "policy", arg: argRequired, bit: optPolicy},
	{long: "laddr", short: 'z', arg: argRequired, bit: optLaddr},
}

// LongOptions lists the long option names, for completion.
func LongOptions() []string {
	var l []string
	for _, o := range opts {
		if o.long != "" && o.unsup == "" {
			l = append(l, "--"+o.long)
		}
	}
	return l
}

func findLong(name string) *opt {
	for i := range opts {
		if opts[i].long == name {
			return &opts[i]
		}
	}
	return nil
}

func findShort(c byte) *opt {
	if c == 0 {
		return nil
	}
	for i := range opts {
		if opts[i].short == c {
			return &opts[i]
		}
	}
	return nil
}

// Legal combinations of commands and options, as ipvsadm's commands_v_options:
// '+' compulsory, 'x' illegal, '1' exclusive, ' ' optional. Options not listed are illegal.
var cmdOptions = map[model.Op]map[optBit]byte{
	model.OpAddService:  {optService: '+', optScheduler: ' ', optPersistent: ' ', optNetmask: ' ', optOnePacket: ' ', optSchedFlags: ' ', optSynProxy: ' ', optPolicy: ' '},
	model.OpEditService: {optService: '+', optScheduler: ' ', optPersistent: ' ', optNetmask: ' ', optOnePacket: ' ', optSchedFlags: ' ', optSynProxy: ' ', optPolicy: ' '},
	model.OpDelService:  {optService: '+'},
	model.OpFlush:       {},
	model.OpList: {optNumeric: ' ', optConnection: '1', optService: '1', optTimeout: '1', optStats: ' ', optRate: ' ',
		optThresholds: ' ', optPersistentConn: ' ', optNoSort: ' ', optExact: ' ', optOutput: ' '},
	model.OpAddServer:  {optService: '+', optServer: '+', optForward: ' ', optWeight: ' ', optUThreshold: ' ', optLThreshold: ' '},
	model.OpEditServer: {optService: '+', optServer: '+', optForward: ' ', optWeight: ' ', optUThreshold: ' ', optLThreshold: ' '},
	model.OpDelServer:  {optService: '+', optServer: '+'},
	model.OpSet:        {},
	model.OpRestore:    {},
	model.OpSave:       {optNumeric: ' ', optNoSort: ' ', optOutput: ' '},
	model.OpZero:       {optService: ' '},
	model.OpAddLaddr:   {optService: '+', optLaddr: '+'},
	model.OpDelLaddr:   {optService: '+', optLaddr: '+'},
	model.OpGetLaddr:   {optService: ' ', optNumeric: ' ', optOutput: ' '},
	model.OpHelp:       {},
	model.OpVersion:    {},
}

// parser holds the raw option values until all of the line is read.
type parser struct {
	c                      model.Command
	set                    optBit
	svcArg, srvArg         string
	proto                  model.Protocol
	schedArg, persistArg   string
	persistGiven           bool
	maskArg, schedFlagsArg string
	weightArg, uArg, lArg  string
	laddrArg, synArg       string
	policyArg              string
	fwd                    model.Forward
	positional             []string
}

// ParseArgs parses one ipvsadm command line (without the program name). Errors are *ParseError
// with ipvsadm's wording where ipvsadm has one.
func ParseArgs(args []string) (*model.Command, error) {
	if len(args) > 0 && args[0] == "show" {
		return parseShow(args[1:])
	}
	if slices.Contains(args, "--health") {
		return parseHealth(args)
	}
	p := &parser{fwd: model.Route}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		peekOptional := func() (string, bool) {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				return args[i], true
			}
			return "", false
		}
		switch {
		case a == "--":
			p.positional = append(p.positional, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := findLong(name)
			if o == nil {
				return nil, parseErr("%s: unknown option", a)
			}
			switch o.arg {
			case argNone:
				if hasVal {
					return nil, parseErr("--%s: option does not take an argument", name)
				}
			case argRequired:
				if !hasVal {
					v, ok := next()
					if !ok {
						return nil, parseErr("--%s: missing argument", name)
					}
					val = v
				}
			case argOptional:
				if !hasVal {
					val, hasVal = peekOptional()
				}
			}
			if err := p.option(o, "--"+name, val, hasVal); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				ch := a[j]
				rest := a[j+1:]
				// -o json selects JSON output; -o alone is ipvsadm's --ops.
				if ch == 'o' {
					if rest == "json" {
						p.setOutput("json")
						if err := p.mark(optOutput); err != nil {
							return nil, err
						}
						break
					}
					if rest == "" && i+1 < len(args) && args[i+1] == "json" {
						i++
						if err := p.mark(optOutput); err != nil {
							return nil, err
						}
						p.setOutput("json")
						continue
					}
					if err := p.option(findLong("ops"), "-o", "", false); err != nil {
						return nil, err
					}
					continue
				}
				// -b is --sched-flags on a service and --fullnat on a real server (DPVS).
				if ch == 'b' {
					if p.c.Op == model.OpAddService || p.c.Op == model.OpEditService {
						val := rest
						if val == "" {
							v, ok := next()
							if !ok {
								return nil, parseErr("-b: missing argument")
							}
							val = v
						}
						if err := p.option(findLong("sched-flags"), "-b", val, true); err != nil {
							return nil, err
						}
						break
					}
					if err := p.option(findLong("fullnat"), "-b", "", false); err != nil {
						return nil, err
					}
					continue
				}
				o := findShort(ch)
				if o == nil {
					return nil, parseErr("-%s: unknown option", printable(ch))
				}
				var val string
				hasVal := false
				switch o.arg {
				case argRequired:
					if rest != "" {
						val, hasVal = rest, true
					} else if v, ok := next(); ok {
						val, hasVal = v, true
					} else {
						return nil, parseErr("-%c: missing argument", ch)
					}
				case argOptional:
					if rest != "" {
						val, hasVal = rest, true
					} else {
						val, hasVal = peekOptional()
					}
				}
				if err := p.option(o, "-"+string(ch), val, hasVal); err != nil {
					return nil, err
				}
				if hasVal && rest != "" {
					break // the rest of the word was the argument
				}
			}
		default:
			p.positional = append(p.positional, a)
		}
	}
	return p.finish()
}

// printable quotes a byte of an unknown option that is not printable ASCII.
func printable(c byte) string {
	if c > ' ' && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

func (p *parser) setOutput(string) { p.c.List.JSON = true }

func (p *parser) mark(b optBit) error {
	if p.set&b != 0 {
		return parseErr("multiple '%s' options specified", b)
	}
	p.set |= b
	return nil
}

func (p *parser) option(o *opt, name, val string, hasVal bool) error {
	if o.unsup != "" {
		return parseErr("%s: %s", name, o.unsup)
	}
	if o.cmd != "" {
		if p.c.Op != "" {
			return parseErr("multiple commands specified")
		}
		p.c.Op = o.cmd
		return nil
	}
	if o.bit == 0 { // --sort
		return nil
	}
	if err := p.mark(o.bit); err != nil {
		return err
	}
	switch o.long {
	case "tcp-service":
		p.proto, p.svcArg = model.TCP, val
	case "udp-service":
		p.proto, p.svcArg = model.UDP, val
	case "scheduler":
		p.schedArg = val
	case "persistent":
		p.persistGiven = true
		if hasVal {
			p.persistArg = val
		}
	case "netmask":
		p.maskArg = val
	case "real-server":
		p.srvArg = val
	case "masquerading":
		p.fwd = model.Masq
	case "ipip":
		p.fwd = model.Tunnel
	case "gatewaying":
		p.fwd = model.Route
	case "fullnat":
		p.fwd = model.FullNAT
	case "sched-flags":
		p.schedFlagsArg = val
	case "weight":
		p.weightArg = val
	case "u-threshold":
		p.uArg = val
	case "l-threshold":
		p.lArg = val
	case "numeric":
		p.c.List.Numeric = true
	case "connection":
		p.c.List.Connections = true
	case "timeout":
		p.c.List.Timeout = true
	case "stats":
		p.c.List.Stats = true
	case "rate":
		p.c.List.Rate = true
	case "thresholds":
		p.c.List.Thresholds = true
	case "persistent-conn":
		p.c.List.PersistentConn = true
	case "nosort":
		p.c.List.NoSort = true
	case "exact":
		p.c.List.Exact = true
	case "ops":
		p.c.Service.OnePacket = true
	case "output":
		if val != "json" {
			return parseErr("--output: unknown format `%s' (only json)", val)
		}
		p.c.List.JSON = true
	case "synproxy":
		p.synArg = "enable"
		if hasVal {
			p.synArg = val
		}
	case "laddr":
		p.laddrArg = val
	case "policy":
		p.policyArg = val
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

func (p *parser) finish() (*model.Command, error) {
	c := &p.c
	if c.Op == "" {
		return nil, parseErr("no command specified")
	}
	legal := cmdOptions[c.Op]
	exclusive := optBit(0)
	for i := range numOpts {
		b := optBit(1) << i
		kind, ok := legal[b]
		if !ok {
			kind = 'x'
		}
		if p.set&b == 0 {
			if kind == '+' {
				return nil, parseErr("You need to supply the '%s' option for the '%s' command", b, c.Op)
			}
			continue
		}
		switch kind {
		case 'x':
			return nil, parseErr("Illegal '%s' option with the '%s' command", b, c.Op)
		case '1':
			if exclusive != 0 {
				return nil, parseErr("The option '%s' conflicts with the '%s' option in the '%s' command", b, exclusive, c.Op)
			}
			exclusive = b
		}
	}
	if c.Op == model.OpList && (c.List.Connections || c.List.Timeout) &&
		(c.List.Stats || c.List.PersistentConn || c.List.Rate || c.List.Thresholds) {
		return nil, parseErr("options conflicts in the list command")
	}
	if c.Op == model.OpSet {
		if len(p.positional) < 3 {
			return nil, parseErr("--set option requires 3 timeout values")
		}
		var t [3]uint32
		for i := range t {
			v, err := timeoutArg(p.positional[i], 0)
			if err != nil {
				return nil, err
			}
			t[i] = v
		}
		c.Timeouts = model.Timeouts{TCP: t[0], TCPFin: t[1], UDP: t[2]}
		p.positional = p.positional[3:]
	}
	if len(p.positional) > 0 {
		return nil, parseErr("unexpected argument %s", p.positional[0])
	}

	if p.set&optService != 0 {
		a, port, hasPort, ok := parseAddrPort(p.svcArg)
		if !ok {
			return nil, parseErr("illegal virtual server address[:port] specified")
		}
		_ = hasPort
		c.HasService = true
		c.Service.ServiceKey = model.ServiceKey{Protocol: p.proto, Address: a, Port: port}
	}
	svc := &c.Service
	if c.Op == model.OpAddService || c.Op == model.OpEditService {
		svc.Scheduler = p.schedArg
		if p.persistGiven {
			svc.Persistent = true
			svc.Timeout = model.DefaultPersistence
			if p.persistArg != "" {
				v, err := timeoutArg(p.persistArg, 1)
				if err != nil {
					return nil, err
				}
				svc.Timeout = v
			}
		}
		svc.Netmask = model.FullMask(svc.Address)
		if p.maskArg != "" {
			bits, err := parseNetmask(p.maskArg, svc.Address.Is6())
			if err != nil {
				return nil, err
			}
			svc.Netmask = bits
		}
		if p.schedFlagsArg != "" {
			f, err := parseSchedFlags(p.schedArg, p.schedFlagsArg)
			if err != nil {
				return nil, err
			}
			svc.SchedFlags = f
		}
		switch p.synArg {
		case "":
		case "enable", "1", "on":
			svc.SynProxy = true
		case "disable", "0", "off":
		default:
			return nil, parseErr("invalid synproxy value `%s' specified (enable or disable)", p.synArg)
		}
		if p.policyArg != "" {
			pol, err := ParsePolicy(p.policyArg)
			if err != nil {
				return nil, err
			}
			svc.Policy = pol
		}
		// As ipvsadm: a zero port needs persistence, one-packet scheduling needs UDP.
		if svc.Port == 0 && !svc.Persistent {
			return nil, parseErr("Zero port specified for non-persistent service")
		}
		if svc.OnePacket && svc.Protocol != model.UDP {
			return nil, parseErr("One-Packet Scheduling is only for UDP virtual services")
		}
	}
	if p.set&optServer != 0 {
		a, port, hasPort, ok := parseAddrPort(p.srvArg)
		if !ok {
			return nil, parseErr("illegal real server address[:port] specified")
		}
		if !hasPort {
			port = svc.Port
		}
		c.Server = model.RealServerSpec{Address: a, Port: port, Forward: p.fwd, Weight: 1}
		if p.weightArg != "" {
			n, ok := numberArg(p.weightArg, 0, model.MaxWeight)
			if !ok {
				return nil, parseErr("illegal weight specified")
			}
			c.Server.Weight = uint32(n)
		}
		if p.uArg != "" {
			n, ok := numberArg(p.uArg, 0, model.MaxThreshold)
			if !ok {
				return nil, parseErr("illegal u_threshold specified")
			}
			c.Server.UThreshold = uint32(n)
		}
		if p.lArg != "" {
			n, ok := numberArg(p.lArg, 0, model.MaxThreshold)
			if !ok {
				return nil, parseErr("illegal l_threshold specified")
			}
			c.Server.LThreshold = uint32(n)
		}
		if c.Op != model.OpDelServer && (p.fwd == model.Route || p.fwd == model.Tunnel) && hasPort && port != svc.Port {
			return nil, parseErr("real server port %d differs from the service port %d: %s forwarding cannot change the port (use -m or -b)",
				port, svc.Port, map[model.Forward]string{model.Route: "gatewaying (-g)", model.Tunnel: "ipip (-i)"}[p.fwd])
		}
	}
	if p.set&optLaddr != 0 {
		a, err := netip.ParseAddr(strings.Trim(p.laddrArg, "[]"))
		if err != nil || a.Zone() != "" {
			return nil, parseErr("illegal local address specified")
		}
		c.LocalAddr = a
	}
	return c, nil
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

// parseSchedFlags is ipvsadm's parse_sched_flags.
func parseSchedFlags(scheduler, arg string) (control.ServiceFlags, error) {
	if scheduler == "" {
		scheduler = model.DefaultScheduler()
	}
	var f control.ServiceFlags
	for _, flag := range strings.Split(arg, ",") {
		switch {
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
				return 0, parseErr("invalid %s flag `%s'", scheduler, flag)
			}
		default:
			return 0, parseErr("invalid scheduler flag `%s'", flag)
		}
	}
	return f, nil
}

// schedFlagNames is ipvsadm's print_sched_flags: the flags comma-separated.
func schedFlagNames(scheduler string, f control.ServiceFlags) string {
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
	return strings.Join(names, ",")
}

// ShowVerbs are the things `show` lists: services (-Ln), servers (real servers with their
// effective weight and health), connections (-Lnc), workers (per-worker counters), queues (the
// AF_XDP socket statistics of every queue), drops (by reason), events (what workers did besides
// forwarding and dropping), synproxy (the SYN proxy's counters), health (the checks and states).
var ShowVerbs = []string{"services", "servers", "connections", "workers", "queues", "drops", "events", "synproxy", "health"}

var showWhat = ShowVerbs

// parseShow parses `show workers|drops [-o json]`.
func parseShow(args []string) (*model.Command, error) {
	c := &model.Command{Op: model.OpShow}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args) && args[i+1] == "json", a == "--output=json":
			c.List.JSON = true
			if a == "-o" {
				i++
			}
		case c.Show == "" && slices.Contains(showWhat, a):
			c.Show = a
		default:
			return nil, parseErr("show: unexpected %q (show %s [-o json])", a, strings.Join(showWhat, "|"))
		}
	}
	if c.Show == "" {
		return nil, parseErr("show: what? (show %s [-o json])", strings.Join(showWhat, "|"))
	}
	return c, nil
}

// policyNames are the words of --policy, each turning off one of xdpvs's defaults for real-server
// changes (control.BackendPolicy).
var policyNames = []struct {
	name string
	bit  control.BackendPolicy
}{
	{"keep-removed-conns", control.KeepRemovedConns},
	{"no-conn-reuse", control.NoConnReuse},
	{"persist-quiescent", control.PersistToQuiescent},
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
			return 0, parseErr("invalid policy `%s' (keep-removed-conns, no-conn-reuse, persist-quiescent or default)", w)
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
