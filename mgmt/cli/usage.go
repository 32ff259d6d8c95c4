package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Version is the admin tool's version line.
const Version = "xdpvsadm 0.1 (ipvsadm v1.31 syntax, IPVS v" + IPVSVersion + " formats)"

// WriteUsage writes the help of `xdpvsadm -h`, laid out as ipvsadm's.
func WriteUsage(w io.Writer) {
	fmt.Fprintln(w, Version)
	writeSynopsis(w)
	writeCommands(w)
	writeOptions(w)
	writeHealthOptions(w)
}

func writeSynopsis(w io.Writer) {
	p := "xdpvsadm"
	fmt.Fprintf(w, "Usage:\n"+
		"  %[1]s [--socket PATH] COMMAND [options]\n"+
		"  %[1]s -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-j] [-o]\n"+
		"  %[1]s -D -t|u|f service-address\n"+
		"  %[1]s -C\n"+
		"  %[1]s -R\n"+
		"  %[1]s -S [-n]\n"+
		"  %[1]s -a|e -t|u|f service-address -r server-address [options]\n"+
		"  %[1]s -d -t|u|f service-address -r server-address\n"+
		"  %[1]s -L|l [options]\n"+
		"  %[1]s -Z [-t|u service-address]\n"+
		"  %[1]s --set tcp tcpfin udp\n"+
		"  %[1]s --defense auto|always|off [percent]\n"+
		"  %[1]s --add-laddr|--del-laddr -z local-address -t|u service-address [-F ifname]\n"+
		"  %[1]s --get-laddr [-t|u service-address]\n"+
		"  %[1]s --add-mark|--del-mark -f mark [--proto tcp|udp] --dst prefix [--dport port[-port]]\n"+
		"  %[1]s --health -t|u service-address --check tcp|http|https|udp|script|none [check options]\n"+
		"  %[1]s show %[2]s [-o json]\n"+
		"  %[1]s show pick -t|u service-address client-address[:port]... [-o json]\n"+
		"                    (the real server mh, sh or dh picks for each client)\n"+
		"  %[1]s drain|undrain      (withdraw, or announce again, every BGP prefix; keep forwarding)\n"+
		"  %[1]s import-keepalived FILE [--apply]  (keepalived's virtual servers as -S lines, or applied)\n"+
		"  %[1]s ha role master|backup|fault   (keepalived's notify: serve, or forward nothing)\n"+
		"  %[1]s ha ready           (keepalived's track_script: exit status 0 when ready to take traffic)\n"+
		"  %[1]s -h\n"+
		"  %[1]s                  (no command: interactive shell)\n\n", p, showVerbs())
}

func writeCommands(w io.Writer) {
	fmt.Fprint(w, "Commands:\n"+
		"Either long or short options are allowed.\n"+
		"  --add-service     -A        add virtual service with options\n"+
		"  --edit-service    -E        edit virtual service with options\n"+
		"  --delete-service  -D        delete virtual service\n"+
		"  --clear           -C        clear the whole table\n"+
		"  --restore         -R        restore rules from stdin\n"+
		"  --save            -S        save rules to stdout\n"+
		"  --add-server      -a        add real server with options\n"+
		"  --edit-server     -e        edit real server with options\n"+
		"  --delete-server   -d        delete real server\n"+
		"  --list            -L|-l     list the table\n"+
		"  --zero            -Z        zero counters in a service or all services\n"+
		"  --set tcp tcpfin udp        set connection timeout values\n"+
		"  --defense mode [percent]    flood defence of the connection tables: auto (when a\n"+
		"                              worker's table is percent full, default 90), always, off\n"+
		"  --add-laddr       -P        add local address (FULLNAT)\n"+
		"  --del-laddr       -Q        delete local address\n"+
		"  --get-laddr       -G        get local addresses\n"+
		"  --add-mark                  add a mark rule: what the -f mark services take\n"+
		"  --del-mark                  delete a mark rule\n"+
		"  --health                    set (or with --check none remove) a service's health check\n"+
		"  --help            -h        display this help message\n"+
		"  --version         -v        display the version\n\n")
}

func writeOptions(w io.Writer) {
	fmt.Fprintf(w, "Options:\n"+
		"  --socket PATH                       the daemon's socket (default $XDPVS_SOCKET, else %s)\n"+
		"  --tcp-service  -t service-address   service-address is host[:port]\n"+
		"  --udp-service  -u service-address   service-address is host[:port]\n"+
		"  --fwmark-service -f fwmark          fwmark is an integer greater than zero\n"+
		"  --ipv6         -6                   fwmark entry uses IPv6\n"+
		"  --scheduler    -s scheduler         one of %s,\n"+
		"                                      the default scheduler is %s.\n"+
		"  --persistent   -p [timeout]         persistent service\n"+
		"  --netmask      -M netmask           persistent granularity mask\n"+
		"  --sched-flags  -b flags             scheduler flags (comma-separated), with -A/-E\n"+
		"                                      (mh-size=N: mh's table, a prime, default 4093)\n"+
		"  --synproxy     -j [enable|disable]  TCP SYN proxy (ignored on a UDP service)\n"+
		"  --proxy-protocol v1|v2|disable      PROXY protocol header toward fullnat real servers\n"+
		"                                      (v2 only for UDP: on a flow's first datagram)\n"+
		"  --proto tcp|udp|any                 with --add-mark: the protocol (default any)\n"+
		"  --dst prefix                        with --add-mark: the destination address or prefix\n"+
		"  --dport port[-port]                 with --add-mark: the destination ports (default all)\n"+
		"  --policy LIST                       turn off xdpvs's handling of real-server changes:\n"+
		"                                      keep-removed-conns, no-conn-reuse, persist-quiescent,\n"+
		"                                      and of moved flows (mh, sh, dh with -g, -i): no-sloppy,\n"+
		"                                      and of the XDP fast path: no-fast-path\n"+
		"  --bgp-min-servers N                 announce the VIP while N real servers are available (1)\n"+
		"  --real-server  -r server-address    server-address is host (and port)\n"+
		"  --gatewaying   -g                   gatewaying (direct routing) (default)\n"+
		"  --ipip         -i                   ipip encapsulation (tunneling)\n"+
		"  --tun-type ipip                     the tunnel type of -i (gue and gre: not supported)\n"+
		"  --masquerading -m                   masquerading (NAT)\n"+
		"  --fullnat      -b                   fullnat, with -a/-e\n"+
		"  --weight       -w weight            capacity of real server\n"+
		"  --u-threshold  -x uthreshold        upper threshold of connections\n"+
		"  --l-threshold  -y lthreshold        lower threshold of connections\n"+
		"  --laddr        -z local-address     local address, with --add-laddr/--del-laddr\n"+
		"  --ifname       -F ifname            the director's interface the local address is on\n"+
		"                                      (xdpvsd adds it there if missing)\n"+
		"  --connection   -c                   output of current IPVS connections\n"+
		"  --timeout                           output of timeout (tcp tcpfin udp)\n"+
		"  --stats                             output of statistics information\n"+
		"  --rate                              output of rate information\n"+
		"  --exact                             expand numbers (display exact values)\n"+
		"  --thresholds                        output of thresholds information\n"+
		"  --persistent-conn                   output of persistent connection info\n"+
		"  --nosort                            disable sorting output of service/server entries\n"+
		"  --sort                              does nothing, for backwards compatibility\n"+
		"  --ops          -o                   one-packet scheduling\n"+
		"  --numeric      -n                   numeric output of addresses and ports (always)\n"+
		"  --output json  -o json              output of -L, -S, --get-laddr, show as JSON\n",
		api.DefaultSocketPath, strings.Join(model.SchedulerNames(), "|"), model.DefaultScheduler())
}

func writeHealthOptions(w io.Writer) {
	fmt.Fprintf(w, "\nHealth check options (with --health; keepalived's checks):\n"+
		"  --check kind                        tcp (connect), http, https (GET), udp, script, or none\n"+
		"  --path path                         http/https: the path to GET (default /)\n"+
		"  --host name                         http/https: Host header and TLS server name\n"+
		"  --expect status                     http/https: the status wanted (default %d)\n"+
		"  --send text                         udp: the datagram to send (default empty)\n"+
		"  --receive text                      udp: the reply must contain it (default: up unless\n"+
		"                                      an ICMP error comes back within the timeout)\n"+
		"  --script path                       script: run as `path RIP RPORT', exit status 0 = up;\n"+
		"                                      only under xdpvsd's --health-scripts directory\n"+
		"  --check-port port                   probe this port instead of the real server's\n"+
		"  --interval duration                 between checks (default %v; 2s, 500ms or seconds)\n"+
		"  --timeout duration                  of one check, at most the interval (default %v)\n"+
		"  --rise n                            successes that bring a server back (default %d)\n"+
		"  --fall n                            failures that take it out (default %d)\n"+
		"  --on-fail quiesce|remove            failed server: weight 0 (default) or out of the table\n"+
		"  --sorry server-address [-g|-m|-i|-b] the sorry server, used while no real server is up\n",
		model.DefaultExpect, model.DefaultCheckInterval, model.DefaultCheckTimeout, model.DefaultRise, model.DefaultFall)
}
