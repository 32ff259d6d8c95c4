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
// load. A bad line refuses the whole file with "FILE:LINE: reason".
//
// # Admin tool
//
// Admin accepts ipvsadm's syntax (-A/-E/-D, -a/-e/-d, -C, -L/-l, -Z, -S, -R, --set) and DPVS's
// extensions (-b/--fullnat on a real server, --add-laddr/--del-laddr/--get-laddr with -z, -j on a
// service), prints ipvsadm 1.31's formats, and with -o json the same data as JSON. On a service -b
// is ipvsadm's --sched-flags; on a real server it is DPVS's --fullnat. -o alone is ipvsadm's --ops;
// "-o json" selects JSON output. Exit status: 0, 1 for a failed operation, 2 for a command-line
// error (as ipvsadm). With no command it runs a shell reading one command line per line.
package mgmt
