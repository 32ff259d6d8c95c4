// Package mgmt is the management plane of xdpvs. It has no code of its own: each concern is a
// package below it, and the arrows between them are a test (internal/archtest).
//
//	mgmt/model    the configuration: service and real-server specs, health-check specs, the
//	              commands, validation with ipvsadm's messages, the executor and the snapshot
//	              handed to the dataplane
//	mgmt/api      the wire protocol over the unix socket: requests, responses, the listings'
//	              types, framing, and the client
//	mgmt/cli      the admin tool: ipvsadm's command line (one option table), the rules of -S/-R
//	              and of the configuration file, ipvsadm's listing formats, usage, the shell
//	mgmt/health   health checks: one Checker per protocol (tcp, http/https, udp, script)
//	mgmt/server   the daemon's side: the socket server, changes and their snapshots, health
//	              probers, -Z baselines and rates, the persisted configuration
//	mgmt/metrics  the Prometheus exporter of the server's state
//	mgmt/announce the announcement policy: which VIPs and local addresses are announced, when
//	mgmt/bgp      the BGP speaker (an embedded GoBGP) that announces them
//	mgmt/kroute   the kernel routes: the --export-table routes and routed mode's blackholes
//
// Arrows: model → dataplane/control, sched; api → model; cli → api, model; health → model;
// server → cli, api, health, model; metrics → server, api; announce → api, model,
// dataplane/control; bgp and kroute → nothing of the project (cmd/xdpvsd wires them to announce). The admin tool (cmd/xdpvsadm) links
// cli, api and model only: no health checker, no HTTP client, no logger.
package mgmt
