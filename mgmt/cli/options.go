package cli

import (
	"slices"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The command line is one table: every command and option of xdpvsadm with its names, what it
// takes, the commands that accept it and what it sets. Adding an option is adding an entry (and,
// if it takes a value, its setter).

// argKind is what an option takes.
type argKind uint8

const (
	argNone     argKind = iota
	argRequired         // the rest of the word (-s rr, -srr, --scheduler=rr) or the next word
	argOptional         // the rest of the word, or the next word unless it starts with '-'
)

// need is how a command takes an option: ipvsadm's commands_v_options, where an option a command
// does not list is illegal ('x').
type need uint8

const (
	optional  need = iota + 1 // ' '
	required                  // '+'
	exclusive                 // '1': at most one of the command's exclusive options
)

// accepts lists the commands that take an option.
type accepts map[model.Op]need

// setter stores an option's value in the command being parsed; given is false for an optional
// argument left out. Its errors are *ParseError.
type setter func(p *parser, arg string, given bool) error

// option is one entry of the table: a command (cmd set), an option (in set: the commands that take
// it), an option xdpvs refuses (unsup set) or one it ignores (none set, like --sort).
type option struct {
	long  string
	short byte
	arg   argKind
	cmd   model.Op
	// group is the option as ipvsadm's checks name it, when not its long name ("multiple
	// 'service-address' options specified"): -t and -u are one option, so are -m, -i, -g and
	// --fullnat.
	group string
	in    accepts
	set   setter
	// check validates the argument as soon as it is read (only --output's is known then).
	check func(name, arg string) error
	unsup string // why xdpvs refuses it
}

// health tells whether the option is one of a --health line.
func (o *option) health() bool { return o.in[model.OpHealth] != 0 }

// The commands that take an option, by kind of option.
var (
	serviceAttr = accepts{model.OpAddService: optional, model.OpEditService: optional}
	serverAttr  = accepts{model.OpAddServer: optional, model.OpEditServer: optional}
	listOutput  = accepts{model.OpList: optional}
	onHealth    = accepts{model.OpHealth: optional}
	service     = accepts{model.OpAddService: required, model.OpEditService: required, model.OpDelService: required,
		model.OpList: exclusive, model.OpAddServer: required, model.OpEditServer: required, model.OpDelServer: required,
		model.OpZero: optional, model.OpAddLaddr: required, model.OpDelLaddr: required, model.OpGetLaddr: optional,
		model.OpAddMark: required, model.OpDelMark: required}
	// -6 goes with -f wherever a service does.
	ipv6In = accepts{model.OpAddService: optional, model.OpEditService: optional, model.OpDelService: optional,
		model.OpList: optional, model.OpAddServer: optional, model.OpEditServer: optional, model.OpDelServer: optional,
		model.OpZero: optional, model.OpAddLaddr: optional, model.OpDelLaddr: optional, model.OpGetLaddr: optional}
	markAttr = accepts{model.OpAddMark: optional, model.OpDelMark: optional}
	markDst  = accepts{model.OpAddMark: required, model.OpDelMark: required}
)

const (
	unsupDaemon = "the connection sync daemon is not supported by xdpvs"
	unsupTunnel = "only for GUE and GRE tunnels (--tun-type), which xdpvs does not support: -i tunnels are IPIP (IPv6-in-IPv6)"
)

// options is the table. ipvsadm's options come in the order of its optnames, which is the order
// in which the checks of a line report; the --health line's options come last.
var options = []option{
	{long: "add-service", short: 'A', cmd: model.OpAddService},
	{long: "edit-service", short: 'E', cmd: model.OpEditService},
	{long: "delete-service", short: 'D', cmd: model.OpDelService},
	{long: "clear", short: 'C', cmd: model.OpFlush},
	{long: "list", short: 'L', cmd: model.OpList},
	{short: 'l', cmd: model.OpList}, // the only entry without a long name: "--=x" finds it
	{long: "zero", short: 'Z', cmd: model.OpZero},
	{long: "add-server", short: 'a', cmd: model.OpAddServer},
	{long: "edit-server", short: 'e', cmd: model.OpEditServer},
	{long: "delete-server", short: 'd', cmd: model.OpDelServer},
	{long: "set", cmd: model.OpSet},
	{long: "defense", cmd: model.OpDefense},
	{long: "help", short: 'h', cmd: model.OpHelp},
	{long: "version", short: 'v', cmd: model.OpVersion},
	{long: "restore", short: 'R', cmd: model.OpRestore},
	{long: "save", short: 'S', cmd: model.OpSave},
	{long: "add-laddr", short: 'P', cmd: model.OpAddLaddr},
	{long: "del-laddr", short: 'Q', cmd: model.OpDelLaddr},
	{long: "get-laddr", short: 'G', cmd: model.OpGetLaddr},
	{long: "add-mark", cmd: model.OpAddMark}, // xdpvs's mark rules, for -f services
	{long: "del-mark", cmd: model.OpDelMark},

	{long: "numeric", short: 'n', in: accepts{model.OpList: optional, model.OpSave: optional, model.OpGetLaddr: optional},
		set: on(func(c *model.Command) *bool { return &c.List.Numeric })},
	{long: "connection", short: 'c', in: accepts{model.OpList: exclusive},
		set: on(func(c *model.Command) *bool { return &c.List.Connections })},
	{long: "tcp-service", short: 't', arg: argRequired, group: "service-address", in: service, set: setService(model.TCP)},
	{long: "udp-service", short: 'u', arg: argRequired, group: "service-address", in: service, set: setService(model.UDP)},
	{long: "fwmark-service", short: 'f', arg: argRequired, group: "service-address", in: service, set: setFWMark},
	{long: "scheduler", short: 's', arg: argRequired, in: serviceAttr, set: setScheduler},
	{long: "persistent", short: 'p', arg: argOptional, in: serviceAttr, set: setPersistent},
	{long: "netmask", short: 'M', arg: argRequired, in: serviceAttr, set: setNetmask},
	{long: "real-server", short: 'r', arg: argRequired,
		in: accepts{model.OpAddServer: required, model.OpEditServer: required, model.OpDelServer: required}, set: setServer},
	{long: "masquerading", short: 'm', group: "forwarding-method", in: serverAttr, set: setForward(model.Masq)},
	{long: "ipip", short: 'i', group: "forwarding-method", in: serverAttr, set: setForward(model.Tunnel)},
	{long: "gatewaying", short: 'g', group: "forwarding-method", in: serverAttr, set: setForward(model.Route)},
	{long: "fullnat", group: "forwarding-method", in: serverAttr, set: setForward(model.FullNAT)}, // -b on a real server
	{long: "weight", short: 'w', arg: argRequired, in: serverAttr, set: setWeight},
	{long: "u-threshold", short: 'x', arg: argRequired, in: serverAttr, set: setUThreshold},
	{long: "l-threshold", short: 'y', arg: argRequired, in: serverAttr, set: setLThreshold},
	{long: "timeout", in: accepts{model.OpList: exclusive}, set: on(func(c *model.Command) *bool { return &c.List.Timeout })},
	{long: "stats", in: listOutput, set: on(func(c *model.Command) *bool { return &c.List.Stats })},
	{long: "rate", in: listOutput, set: on(func(c *model.Command) *bool { return &c.List.Rate })},
	{long: "thresholds", in: listOutput, set: on(func(c *model.Command) *bool { return &c.List.Thresholds })},
	{long: "persistent-conn", in: listOutput, set: on(func(c *model.Command) *bool { return &c.List.PersistentConn })},
	{long: "nosort", in: accepts{model.OpList: optional, model.OpSave: optional},
		set: on(func(c *model.Command) *bool { return &c.List.NoSort })},
	{long: "exact", short: 'X', in: listOutput, set: on(func(c *model.Command) *bool { return &c.List.Exact })},
	{long: "ops", in: serviceAttr, set: on(func(c *model.Command) *bool { return &c.Service.OnePacket })}, // -o
	{long: "sched-flags", arg: argRequired, in: serviceAttr, set: setSchedFlags},                          // -b on a service
	{long: "synproxy", short: 'j', arg: argOptional, in: serviceAttr, set: setSynProxy},
	{long: "laddr", short: 'z', arg: argRequired,
		in: accepts{model.OpAddLaddr: required, model.OpDelLaddr: required}, set: setLocalAddr},
	// DPVS's --ifname: compulsory there, optional here (a local address routed to the director
	// needs no interface).
	{long: "ifname", short: 'F', arg: argRequired,
		in: accepts{model.OpAddLaddr: optional, model.OpDelLaddr: optional}, set: setIfname},
	{long: "output", arg: argRequired, in: accepts{model.OpList: optional, model.OpSave: optional, model.OpGetLaddr: optional},
		check: jsonOnly, set: on(func(c *model.Command) *bool { return &c.List.JSON })}, // also -o json
	{long: "policy", arg: argRequired, in: serviceAttr, set: setPolicy},
	// ipvsadm 1.31's tunnel types: ipip is what -i does; GUE and GRE are refused as soon as
	// they are read, and so are their options.
	{long: "tun-type", arg: argRequired, in: serverAttr, check: ipipOnly, set: setTunType},
	{long: "bgp-min-servers", arg: argRequired, in: serviceAttr, set: setMinServers},
	{long: "proxy-protocol", arg: argRequired, in: serviceAttr, set: setProxyProtocol}, // DPVS's
	{long: "ipv6", short: '6', in: ipv6In, set: setIPv6},
	{long: "proto", arg: argRequired, in: markAttr, set: setMarkProto},
	{long: "dst", arg: argRequired, in: markDst, set: setMarkDst},
	{long: "dport", arg: argRequired, in: markAttr, set: setMarkPorts},

	{long: "sort"}, // does nothing, as in ipvsadm
	{long: "start-daemon", arg: argRequired, unsup: unsupDaemon},
	{long: "stop-daemon", arg: argRequired, unsup: unsupDaemon},
	{long: "mcast-interface", arg: argRequired, unsup: unsupDaemon},
	{long: "syncid", arg: argRequired, unsup: unsupDaemon},
	{long: "daemon", unsup: unsupDaemon},
	{long: "pe", arg: argRequired, unsup: "persistence engines are not supported by xdpvs"},
	{long: "tun-port", arg: argRequired, unsup: unsupTunnel},
	{long: "tun-nocsum", unsup: unsupTunnel},
	{long: "tun-csum", unsup: unsupTunnel},
	{long: "tun-remcsum", unsup: unsupTunnel},

	// The --health line (health.go). It has options of its own and reads each as it comes.
	{long: "health", in: onHealth},
	{long: "tcp-service", short: 't', arg: argRequired, group: "service", in: onHealth, set: setService(model.TCP)},
	{long: "udp-service", short: 'u', arg: argRequired, group: "service", in: onHealth, set: setService(model.UDP)},
	{long: "fwmark-service", short: 'f', arg: argRequired, group: "service", in: onHealth, set: setFWMark},
	{long: "ipv6", short: '6', in: onHealth, set: setIPv6},
	{long: "check", arg: argRequired, in: onHealth, set: setCheck},
	{long: "check-port", arg: argRequired, in: onHealth, set: setCheckPort},
	{long: "path", arg: argRequired, in: onHealth, set: setText(func(h *model.HealthSpec) *string { return &h.Path })},
	{long: "host", arg: argRequired, in: onHealth, set: setText(func(h *model.HealthSpec) *string { return &h.Host })},
	{long: "expect", arg: argRequired, in: onHealth, set: setExpect},
	{long: "send", arg: argRequired, in: onHealth, set: setText(func(h *model.HealthSpec) *string { return &h.Send })},
	{long: "receive", arg: argRequired, in: onHealth, set: setText(func(h *model.HealthSpec) *string { return &h.Receive })},
	{long: "script", arg: argRequired, in: onHealth, set: setText(func(h *model.HealthSpec) *string { return &h.Script })},
	{long: "interval", arg: argRequired, in: onHealth,
		set: setDuration("--interval", func(h *model.HealthSpec) *model.Duration { return &h.Interval })},
	{long: "timeout", arg: argRequired, in: onHealth,
		set: setDuration("--timeout", func(h *model.HealthSpec) *model.Duration { return &h.Timeout })},
	{long: "rise", arg: argRequired, in: onHealth, set: setCount("--rise", func(h *model.HealthSpec) *int { return &h.Rise })},
	{long: "fall", arg: argRequired, in: onHealth, set: setCount("--fall", func(h *model.HealthSpec) *int { return &h.Fall })},
	{long: "on-fail", arg: argRequired, in: onHealth, set: setOnFail},
	{long: "sorry", arg: argRequired, in: onHealth}, // read in finishHealth, once the service is known
	{long: "masquerading", short: 'm', group: "forward", in: onHealth, set: setSorryForward(model.Masq)},
	{long: "gatewaying", short: 'g', group: "forward", in: onHealth, set: setSorryForward(model.Route)},
	{long: "ipip", short: 'i', group: "forward", in: onHealth, set: setSorryForward(model.Tunnel)},
	{long: "fullnat", short: 'b', group: "forward", in: onHealth, set: setSorryForward(model.FullNAT)},
}

// on is the setter of a switch.
func on(field func(*model.Command) *bool) setter {
	return func(p *parser, _ string, _ bool) error {
		*field(&p.c) = true
		return nil
	}
}

// group is one option of ipvsadm's line as its checks know it, with the commands that take it.
type group struct {
	name string
	in   accepts
}

// groups are ipvsadm's options in the table's order: the order of the checks, and of the setters
// once the line is read.
var groups = func() []group {
	var gs []group
	for _, o := range options {
		if o.name() != "" && !o.health() && !slices.ContainsFunc(gs, func(g group) bool { return g.name == o.name() }) {
			gs = append(gs, group{o.name(), o.in})
		}
	}
	return gs
}()

// name is the option's name in ipvsadm's checks ("" for commands and ignored options).
func (o *option) name() string {
	switch {
	case o.cmd != "" || o.unsup != "" || o.in == nil:
		return ""
	case o.group != "":
		return o.group
	}
	return o.long
}

// findLong finds an option by its long name, among those of a --health line or the others.
func findLong(name string, health bool) *option {
	for i := range options {
		if o := &options[i]; o.long == name && o.health() == health {
			return o
		}
	}
	return nil
}

// findShort finds an option by its short name.
func findShort(c byte, health bool) *option {
	for i := range options {
		if o := &options[i]; c != 0 && o.short == c && o.health() == health {
			return o
		}
	}
	return nil
}

// LongOptions lists the long option names, for completion.
func LongOptions() []string {
	var l []string
	for _, o := range options {
		if o.long != "" && o.unsup == "" && !slices.Contains(l, "--"+o.long) {
			l = append(l, "--"+o.long)
		}
	}
	return l
}
