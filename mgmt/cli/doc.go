// Package cli is xdpvsadm: ipvsadm's command line, its listing formats, the rules of -S and -R,
// and the interactive shell. cmd/xdpvsadm is a thin main around Admin, so that everything here
// is testable with an injected Env.
//
// # Command line
//
// ParseArgs accepts ipvsadm's syntax (-A/-E/-D, -a/-e/-d, -C, -L/-l, -Z, -S, -R, --set) and DPVS's
// extensions (-b/--fullnat on a real server, --add-laddr/--del-laddr/--get-laddr with -z, -j on a
// service) and returns a model.Command, or a *ParseError with ipvsadm's wording (exit status 2).
// On a service -b is ipvsadm's --sched-flags; on a real server it is DPVS's --fullnat. -o alone is
// ipvsadm's --ops; "-o json" selects JSON output.
//
// Every command and option is one entry of the table in options.go: its long and short names,
// what argument it takes, the commands that accept it (as ipvsadm's commands_v_options: optional,
// compulsory or exclusive) and the setter that stores its value in the command. The parser
// (parse.go) reads the words of a line against the table; ipvsadm's checks and their messages
// follow from it.
//
// `xdpvsadm --health -t|-u VIP:PORT --check KIND` sets a service's health check: KIND tcp, http or
// https (--path P [--host H] --expect STATUS), udp (--send TEXT [--receive TEXT]) or script
// (--script /PATH, a program under the daemon's --health-scripts DIR); --check-port PORT probes another port; --interval D --timeout D --rise N
// --fall N (defaults 2s 1s 2 3); --on-fail quiesce|remove; --sorry RIP[:PORT] [-g|-m|-i|-b].
// `--check none` removes the check. `show services|servers|connections|workers|queues|drops|
// events|synproxy|health` lists the daemon's view.
//
// # Output
//
// Listings print ipvsadm 1.31's formats (print_title, print_service_entry, list_conn,
// list_timeout, print_largenum) and DPVS's for --get-laddr, always numeric; with -o json the same
// data as JSON. Exit status: 0, 1 for a failed operation, 2 for a command-line error (as ipvsadm).
// A change that succeeds with the daemon's warnings (a part ignored, as -j on a UDP service; a
// service left unable to forward, as FULLNAT real servers without a local address) prints them on
// the error output as "warning: ..." lines and exits 0. `show services` adds a "!! not
// forwarding: why" line under such a service; -L leaves it out, for the scripts that read it,
// and -o json has it as not_forwarding.
//
// # Rules
//
// WriteRules writes -S; ParseRules reads it back for -R and for the daemon's configuration file,
// one command per line, refusing the whole input with "NAME:LINE: reason" at the first bad line.
// -S lists the services sorted, as ipvsadm, but each service's real servers in the order they
// were added, as IPVS holds them (ipvsadm sorts them too, and a restore then moves sh and dh
// clients between servers); -L sorts both.
//
// # Shell
//
// With no command Admin runs a shell reading one command line per line; on a terminal it has line
// editing, history and tab completion of verbs, options, VIP:PORTs after -t/-u and real servers
// after -r/--sorry (asked of the daemon). The same completion serves bash: packaging/xdpvsadm.bash
// runs the hidden `xdpvsadm __complete WORD...` (complete.go), which prints the completions of the
// last word, schedulers and kinds of check included.
//
// # Import and manual
//
// `xdpvsadm import-keepalived FILE [--apply]` (keepalived.go) translates keepalived's
// load-balancing configuration through mgmt/keepalived. WriteManual writes xdpvsadm(8) from the
// option table (manual.go, manual_docs.go).
package cli
