package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The manual page xdpvsd(8), made from the daemon's flag set itself (newFlagSet): every flag with
// its usage text and default, so that the page cannot drift from the flags. docs/man/xdpvsd.8 is
// its output, checked by TestManual (go test -run TestManual -update ./cmd/xdpvsd/ rewrites it)
// and installed by make install.

// roff escapes text for a manual page: backslashes, and a '.' or '\” at the start of a line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// argNames are the manual's names of the flags' arguments, where the type says too little.
var argNames = map[string]string{
	"iface": "IF", "socket": "PATH", "socket-group": "GROUP", "workers": "N|auto", "cpus": "CPU,...",
	"config": "FILE", "check-config": "FILE", "attach": "auto|native|generic", "frame-size": "2048|4096",
	"log-level": "LEVEL", "cpu-profile": "FILE", "metrics": "HOST:PORT", "health-scripts": "DIR",
	"bgp-as": "ASN", "bgp-router-id": "ADDR", "bgp-peer": "ADDR,ASN", "bgp-password": "SECRET",
	"bgp-next-hop": "ADDR", "export-table": "N",
	"sync-key": "FILE", "sync-listen": "ADDR[:PORT]", "sync-peer": "ADDR[:PORT]",
}

// argName is the name of a flag's argument in the manual: argNames', else one from its type.
func argName(flagName, typ string) string {
	if n, ok := argNames[flagName]; ok {
		return n
	}
	switch typ {
	case "int", "uint":
		return "N"
	case "duration":
		return "DURATION"
	}
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// writeManual writes xdpvsd(8).
func writeManual(w io.Writer) {
	_, fs := newFlagSet()
	fmt.Fprint(w, manHead)
	fmt.Fprintln(w, ".SH OPTIONS")
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "deprecated: ") {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintln(w, ".TP")
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && arg == "" {
			fmt.Fprintf(w, ".B \\-\\-%s\n", roff(f.Name))
		} else {
			arg = argName(f.Name, arg)
			fmt.Fprintf(w, ".BI \\-\\-%s \" %s\"\n", roff(f.Name), roff(arg))
		}
		text := usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			text += " (default " + f.DefValue + ")"
		}
		fmt.Fprintln(w, roff(text)+".")
	})
	var deprecated []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "deprecated: ") {
			deprecated = append(deprecated, "\\-\\-"+roff(f.Name)+" ("+roff(strings.TrimPrefix(f.Usage, "deprecated: "))+")")
		}
	})
	if len(deprecated) > 0 {
		fmt.Fprintf(w, ".PP\nOld spellings still accepted, each with a notice: %s.\n", strings.Join(deprecated, ", "))
	}
	fmt.Fprint(w, manTail)
}

const manHead = `.\" Generated from xdpvsd's flags by cmd/xdpvsd/manual.go; do not edit.
.TH XDPVSD 8 "" "xdpvs" "System Administration"
.SH NAME
xdpvsd \- the xdpvs layer-4 load balancer daemon, on AF_XDP
.SH SYNOPSIS
.B xdpvsd
.BI \-\-iface " IF"
.RB [ \-\-iface
.IR IF2 " ...]"
.RB [ \-\-config
.IR FILE ]
.RB [ \-\-socket
.IR PATH ]
.RB [ \-\-workers
.IR N | auto ]
.RB [ \-\-metrics
.IR ADDR ]
.RI [ options ]
.br
.B xdpvsd \-\-check\-config
.I FILE
.SH DESCRIPTION
.B xdpvsd
is a Layer-4 load balancer in the lineage of the Linux Virtual Server (IPVS) and DPVS.
It forwards TCP and UDP connections to a virtual service (VIP:port) to real servers by NAT,
direct routing (DR), IPIP tunnelling (TUN) or FULLNAT (with TOA and the SYN proxy), with the
schedulers of IPVS.
Packets reach it from an XDP program on each interface given with
.BR \-\-iface ,
which steers to AF_XDP sockets only what the director must handle (packets to a VIP or a local
address, replies of NAT real servers, ICMP errors about such flows); everything else goes on to
the kernel.
.PP
It is administered with
.BR xdpvsadm (8),
which speaks
.BR ipvsadm (8)'s
syntax over the daemon's unix socket.
The configuration (services, real servers, health checks, timeouts) lives in the file given with
.BR \-\-config ,
in the format of
.BR "xdpvsadm \-S" ;
the daemon loads it at start and rewrites it atomically after every change, so that it survives a
restart.
A file with a bad line stops the start before any interface is touched, with
.IR FILE : LINE :
and the reason.
.SS Workers
With
.B \-\-workers auto
(the default) the daemon runs one worker per receive queue of the interfaces (the fewest queues
of any of them), at most one per CPU it may run on, each pinned to its CPU, CPU 0 last so that
with fewer workers than CPUs no worker shares it with the machine's housekeeping.
The start-up line and
.B xdpvsadm show workers
say how many it chose and why; show workers lists each worker's queue and CPU.
`

const manTail = `.SH SIGNALS
.TP
.B SIGHUP
Read the configuration file again and apply it as one change
.RB ( "systemctl reload xdpvsd" ):
connections of the services that stay go on; a file with a bad line is refused, logged with
.IR FILE : LINE ,
and the running configuration is kept.
.TP
.BR SIGTERM ", " SIGINT
Stop: with BGP, withdraw the announcements first (with GRACEFUL_SHUTDOWN for
.BR \-\-drain\-time ),
then detach the XDP programs and remove the socket.
Exit status 0.
.SH SYSTEMD
.B make install
installs
.BR xdpvsd.service :
.B Type=notify
(the daemon sends READY=1 once the XDP programs are attached and the configuration is applied,
RELOADING=1 and READY=1 around a reload, STOPPING=1 when it stops, and a STATUS= line),
.BR Restart=on\-failure ,
.B ExecReload
sending SIGHUP, logs to the journal
.RB ( "journalctl \-u xdpvsd" ),
.B LimitMEMLOCK=infinity
and the capabilities it needs and no more: CAP_NET_ADMIN (XDP programs, netlink), CAP_NET_RAW
(AF_XDP sockets), CAP_BPF (maps and programs), CAP_PERFMON (the verifier's rules for trusted
programs) and CAP_IPC_LOCK (UMEM and rings beyond RLIMIT_MEMLOCK); kernels before 5.8 need
CAP_SYS_ADMIN in place of CAP_BPF and CAP_PERFMON.
Pinning workers to CPUs needs no capability.
The interfaces and flags come from
.IR /etc/default/xdpvsd .
.SH FILES
.TP
.I /etc/xdpvs/xdpvs.conf
The configuration
.RB ( \-\-config
of the unit; created empty by
.BR "make install" ).
.TP
.I /etc/default/xdpvsd
The unit's XDPVSD_IFACES (the
.B \-\-iface
flags) and XDPVSD_OPTS (any other flags).
.TP
.I /run/xdpvs/xdpvs.sock
The administration socket (mode 0600, or 0660 with
.BR \-\-socket\-group ).
.SH EXIT STATUS
0 after a clean stop, or when
.B \-\-check\-config
finds the file good; 1 when the daemon cannot start (a bad flag, a bad configuration file, an
interface it cannot attach to) or the file checked is bad; 2 for an unknown flag.
.SH EXAMPLES
Forward on two interfaces with the configuration of the unit, and metrics for Prometheus:
.PP
.RS
.nf
xdpvsd \-\-iface eth0 \-\-iface eth1 \-\-config /etc/xdpvs/xdpvs.conf \-\-metrics 127.0.0.1:9469
.fi
.RE
.PP
Check a configuration before a reload:
.PP
.RS
.nf
xdpvsd \-\-check\-config /etc/xdpvs/xdpvs.conf && systemctl reload xdpvsd
.fi
.RE
.PP
Announce the VIPs to two routers over BGP, draining for 10 s on a stop:
.PP
.RS
.nf
xdpvsd \-\-iface eth0 \-\-bgp\-as 65001 \-\-bgp\-router\-id 198.18.0.1 \e
    \-\-bgp\-peer 198.18.0.254,65000 \-\-bgp\-peer 198.18.1.254,65000 \-\-drain\-time 10s
.fi
.RE
.SH SEE ALSO
.BR xdpvsadm (8),
.BR ipvsadm (8),
.BR keepalived (8),
.BR systemd.service (5)
`
