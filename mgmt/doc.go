// Package mgmt is the management plane of xdpvs: the service model and its validation, the
// unix-socket API the admin tool talks to, immutable dataplane snapshots, statistics (-Z baselines
// and IPVS-style rate estimation) and the persisted configuration. It also holds the admin tool
// itself (Admin), so that cmd/xdpvsadm stays a thin main and everything is testable.
//
// # Model
//
// Services are keyed by (protocol, VIP, port), real servers by (RIP, port), with ipvsadm's rules
// and messages ("Service already exists", "No such destination", "Scheduler not found", ...).
// Every change runs on a copy of the model, becomes a new control.Snapshot handed to
// Control.Apply, and replaces the model only if Apply succeeds; then the configuration file is
// rewritten atomically. A batch of changes (xdpvsadm -R) is all-or-nothing. Changes are serialized
// by one mutex; nothing here runs on the packet path.
//
// Differences from IPVS, each refused with a clear error: a real server port different from the
// service port under gatewaying (-g) or ipip (-i) (IPVS silently ignores it); an IPv4 real server
// under an IPv6 service except with FULLNAT (-b); a non-contiguous IPv4 persistence mask; names
// instead of addresses or ports (there is no DNS on a director: output is always numeric, with or
// without -n); fwmark services and the sync daemon.
//
// # Wire protocol
//
// One unix stream socket (DefaultSocketPath, 0600 or 0660 with Config.SocketGroup). Each message is
// a 4-byte big-endian length and that many bytes of JSON (at most MaxRequestSize for a request): a
// Request {"v":1,"commands":[Command...]} answered by a Response {"v":1,"error":...,"state":...}.
// Several exchanges may follow on one connection. The server recovers from panics per connection
// and answers bad input with an error.
//
// # Configuration file
//
// The file is exactly `xdpvsadm -S` output: an optional `--set TCP TCPFIN UDP` line (only when the
// timeouts are not 900 120 300), then for each service `-A ...`, its `-a ...` lines and its
// `--add-laddr -z LIP -t VIP:PORT` lines. Blank lines and lines starting with '#' are ignored on
// load. A bad line refuses the whole file with "FILE:LINE: reason". A health-checked service also
// has a `--health -t VIP:PORT --check ...` line (see below), written with every value explicit.
// CheckConfig reads a file without starting anything, so that the daemon refuses a bad one before
// it touches an interface.
//
// # Health checks
//
// keepalived's checks, one Checker per protocol: `xdpvsadm --health -t|-u VIP:PORT --check KIND`
// with KIND tcp (connect), http or https (GET --path P [--host H] --expect STATUS, redirects not
// followed, certificates not verified), udp (--send TEXT; with --receive TEXT the reply must
// contain it, otherwise up unless an ICMP error comes back within the timeout) or script
// (--script /PATH, run as `/PATH RIP RPORT` with XDPVS_VIP, XDPVS_VPORT and XDPVS_PROTOCOL in its
// environment, exit status 0 = up, its process group killed on timeout); --check-port PORT probes
// another port; --interval D --timeout D --rise N --fall N (defaults 2s 1s 2 3); --on-fail
// quiesce|remove; --sorry RIP[:PORT] [-g|-m|-i|-b]. `--check none` removes the check.
//
// Every real server of a checked service has a prober goroutine in the daemon's network namespace,
// so checks leave from the director's own addresses. A server starts up (as keepalived's do); after
// fall consecutive failures it is down: the snapshot gives it weight 0 (quiesce: established
// connections go on) or leaves it out (remove); after rise consecutive successes it is up again.
// Its configured weight is never changed: -S saves it, -L shows the dataplane's view (the
// effective weight; a removed server is not listed; the sorry server is listed while in use, as
// ipvsadm shows what keepalived put in IPVS). While no real server is up, the sorry server is in
// the snapshot with weight 1. Passive detection: when the data path reports more connections that
// timed out in SYN_SENT for a server (control.RealServerStats.SynTimeouts, read every estimator
// interval), the server is marked down until rise active checks pass (DPVS's dest-check); this
// needs a health check on the service. Every transition is logged once, with zap, at warn (down)
// or info (up). -o json lists each server's health ("health": up, passive, in_service,
// effective_weight, successes, failures, checks, since, last_error); `show health` prints it.
//
// # Metrics
//
// Package mgmt/metrics serves Prometheus metrics named xdpvs_*: per service and real server the
// counters (connections, packets, bytes in and out), the estimator's rates, active and inactive
// connections, configured and effective weight, health and SYN timeouts; per worker the packets
// received and sent, hand-offs, connections, drops by reason and the AF_XDP socket statistics.
// Counters are the dataplane's own, not reset by -Z.
//
// # Admin tool
//
// Admin accepts ipvsadm's syntax (-A/-E/-D, -a/-e/-d, -C, -L/-l, -Z, -S, -R, --set) and DPVS's
// extensions (-b/--fullnat on a real server, --add-laddr/--del-laddr/--get-laddr with -z, -j on a
// service), prints ipvsadm 1.31's formats, and with -o json the same data as JSON. On a service -b
// is ipvsadm's --sched-flags; on a real server it is DPVS's --fullnat. -o alone is ipvsadm's --ops;
// "-o json" selects JSON output. Exit status: 0, 1 for a failed operation, 2 for a command-line
// error (as ipvsadm). `show services|servers|connections|workers|queues|drops|health` lists the
// daemon's view. With no command it runs a shell reading one command line per line; on a terminal
// it has line editing, history and tab completion of verbs, options, VIP:PORTs after -t/-u and
// real servers after -r/--sorry (asked of the daemon).
package mgmt
