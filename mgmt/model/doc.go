// Package model is the configuration of the director as the operator sees it: virtual services
// keyed by (protocol, VIP, port), their real servers keyed by (RIP, port), FULLNAT local
// addresses, health-check specs and the connection timeouts, with ipvsadm's rules and messages
// ("Service already exists", "No such destination", "Scheduler not found", ...).
//
// A Command is one xdpvsadm command line as data: what the admin tool parses, what the wire
// carries and what Exec runs. Exec changes a Model in place and may leave it partly changed on
// error, so the server runs it on a Clone; Snapshot turns a model into the immutable
// control.Snapshot the dataplane applies, with the health of each real server (an UpFunc) deciding
// its effective weight and whether the sorry server serves. Nothing here runs on the packet path,
// does I/O or logs.
//
// Steps come in any order, as ipvsadm and DPVS take them: a FULLNAT real server before the
// service's first local address, a service without real servers. Service.NotForwarding says why
// such a service cannot forward yet. DPVS's -j on a UDP service is accepted and ignored, as DPVS
// ignores it: Exec returns a warning instead of an error. A local address may name the interface
// it belongs on (--add-laddr -F IFNAME, ServiceSpec.LocalIfaces); the server puts it there.
//
// Differences from IPVS, each refused with a clear error: a real server port different from the
// service port under gatewaying (-g) or ipip (-i) (IPVS silently ignores it); an IPv4 real server
// under an IPv6 service except with FULLNAT (-b); a non-contiguous IPv4 persistence mask; names
// instead of addresses or ports (there is no DNS on a director: output is always numeric, with or
// without -n); the sync daemon. A fwmark service (-f) takes its marks from the model's MarkRules
// (--add-mark, xdpvs's classification: there is no netfilter mark at XDP).
//
// A health check (HealthSpec) is keepalived's: a kind (tcp, http, https, udp, script), its
// options, interval, timeout, rise and fall, what happens to a failed server (quiesce: effective
// weight 0; remove: out of the snapshot) and an optional sorry server, which gets the traffic
// with weight 1 while no real server is up. A real server's configured weight is never changed
// by its health.
package model
