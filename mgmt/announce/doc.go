// Package announce is the director's announcement policy: which of its VIPs and FULLNAT local
// addresses the routers are told about, and when. It decides; the sinks (the BGP speaker of
// mgmt/bgp, the kernel routing table of mgmt/kroute for an OSPF site) carry the decision out.
//
// A prefix (each VIP as a /32 or /128, and each FULLNAT local address, so that the real servers'
// replies come back to this director) is announced while all of these hold:
//
//   - the dataplane's steering program is attached to every interface (control.Liveness);
//   - every worker's loop is alive: its heartbeat is younger than Stall (1 s); a stalled worker
//     withdraws everything, since the flows ECMP sends it would be lost;
//   - the director is not draining (xdpvsadm drain, or SIGTERM);
//   - at least one service of the prefix has its minimum of available real servers (a service's
//     --bgp-min-servers, default 1): a real server is available when it is in the snapshot with a
//     weight above 0 (health checks decide). A VIP shared by several services is announced while
//     any of them may announce it; a local address, while any service using it may.
//
// A drain (Drain(true), or Shutdown on SIGTERM) with a DrainTime keeps the prefixes announced for
// that long with RFC 8326's GRACEFUL_SHUTDOWN community, so that routers that honour it move the
// traffic to the other directors first, then withdraws them; without a DrainTime it withdraws at
// once. Undrain announces again what the policy allows.
//
// The Announcer evaluates the policy every Interval (100 ms) and whenever Poke is called, and
// pushes the routes to every sink when they change (and again after a sink failed). State is
// `xdpvsadm show bgp`: the global reason for announcing nothing, each prefix with its state,
// the reason it is not announced, and its counts of announcements and withdrawals.
//
// Nothing here touches the kernel or the packet path; the clock is injected (Config.Now) so the
// policy is tested with a fake one.
package announce
