// Package server is the daemon's side of the management plane: it owns the configuration model,
// applies it to the dataplane through control.Control, and serves xdpvsadm over a unix socket
// (package api's protocol).
//
// # Changes
//
// Every change runs on a copy of the model and becomes a new control.Snapshot; the
// configuration file is rewritten atomically first, then the snapshot is handed to
// Control.Apply, and the model is replaced only if Apply succeeds. A change that cannot be saved
// (full disk, read-only directory) is refused before it takes effect; a change the dataplane
// refuses has the previous file put back (or removed, if there was none). A batch of changes (xdpvsadm -R, in as many requests as it needs: see
// api.Request.More) is one change, all-or-nothing: its commands are held per connection until
// its last request and dropped with the connection. Changes are serialized by one mutex; nothing
// here runs on the packet path. The server recovers from panics per connection and per request
// and answers bad input with an error. A change that succeeds answers with its warnings, which
// it also logs: what a command ignored (warn), and each service whose real servers or local
// addresses it touched that cannot forward yet (info; at start, every such service is logged at
// warn).
//
// # Configuration file
//
// The file is exactly `xdpvsadm -S` output (package cli's rules): an optional `--set TCP TCPFIN
// UDP` line (only when the timeouts are not 900 120 300), then for each service `-A ...`, its `-a
// ...` lines in the order the real servers were added (sh and dh fill their buckets in that
// order: a restart keeps every client on its server), its `--add-laddr -z LIP -t VIP:PORT [-F
// IFNAME]` lines and, if checked, its `--health -t
// VIP:PORT --check ...` line with every value explicit. Blank lines and lines starting with '#'
// are ignored on load. A bad line refuses the whole file with "FILE:LINE: reason". Failed writes
// are counted and logged at error; ConfigStatus (show config, and the xdpvs_config_* metrics)
// says when the file was last saved, how many writes failed and why, and whether the file, read
// afresh, holds the running configuration: it does not when a previous file could not be put
// back, or when someone changed it. Health transitions never touch the file: it holds the
// configured weights, and a restarted daemon checks again. CheckConfig reads a file without
// starting anything, so that the daemon refuses a bad one before it touches an interface.
//
// # Interface addresses
//
// A local address given with -F IFNAME belongs on that interface of the director (DPVS puts it
// there), so that the real servers on its link resolve it. Before a change that needs one takes
// effect the server adds it through Control.AddAddress unless the interface has it (an
// interface the dataplane does not forward on refuses the change); it removes it once no service
// needs it, when a change is refused and when the daemon stops, and only if it added it (addrs.go).
//
// # Health
//
// A script check (--check script --script PATH) runs PATH as root, and anyone who may use the
// socket (Config.SocketGroup) may set one: so only programs under Config.HealthScripts (xdpvsd
// --health-scripts DIR) may run, owned by root and writable by no one else, the directories
// between too, with no symbolic link out of DIR (health.ScriptDir). Without it every script
// check is refused, with a message naming the flag. The rule is checked when the command
// arrives and again before every run; a loaded configuration file is the root's and is not
// refused, but its disallowed scripts are logged and their checks fail.
//
// Every real server of a checked service has a prober goroutine in the daemon's network
// namespace (package health's Checker), so checks leave from the director's own addresses. A
// server starts up (as keepalived's do); after fall consecutive failures it is down: the snapshot
// gives it weight 0 (quiesce: established connections go on) or leaves it out (remove); after
// rise consecutive successes it is up again. Its configured weight is never changed: -S saves
// it, -L shows the dataplane's view (the effective weight; a removed server is not listed; the
// sorry server is listed while in use, as ipvsadm shows what keepalived put in IPVS). While no
// real server is up, the sorry server is in the snapshot with weight 1. Passive detection: when
// the data path reports more connections that timed out in SYN_SENT for a server
// (control.RealServerStats.SynTimeouts, read every estimator interval), the server is marked down
// until rise active checks pass (DPVS's dest-check); this needs a health check on the service.
// Every transition is logged once, with zap, at warn (down) or info (up). Listings carry each
// server's health (up, passive, in_service, effective_weight, successes, failures, checks, since,
// last_error).
//
// # Statistics
//
// The dataplane's counters are never reset: -Z records a baseline that listings subtract. Rates
// (cps, inpps, outpps, inbps, outbps) follow IPVS's estimator: a sample every EstimatorInterval
// (2 s) folded into an EWMA with weight 1/4, starting, as IPVS's, from zero rates and the zero
// counters of a new service or real server, so that its first seconds count. Observe gives a metrics exporter the listing and the
// raw counters (mgmt/metrics: xdpvs_* per service, real server and worker). Every reader of the
// counters (listings, -Z, the estimator, a scrape) reads what the workers last published
// (control.Control.Stats) and never waits for a worker.
//
// # Connection listings
//
// -Lc and show connections stream the dataplane's connections as its workers list them, a batch
// at a time (control.Control.Connections), to a client that takes parts (api.Request.Parts): a
// part per batch, so that the daemon holds no listing and a listing has no size limit. An older
// client gets one response of at most api.MaxConnListing connections. A listing a worker could not
// finish ends with an error rather than looking whole.
package server
