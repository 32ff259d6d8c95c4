package cli

// The prose of xdpvsadm(8) (manual.go writes the rest from the option table).

const manualHead = `.\" Generated from xdpvsadm's option table by mgmt/cli/manual.go; do not edit.
.TH XDPVSADM 8 "" "xdpvs" "System Administration"
.SH NAME
xdpvsadm \- administer xdpvs, the AF_XDP virtual server, with ipvsadm's syntax
`

const manualDescription = `.SH DESCRIPTION
.B xdpvsadm
sets up, maintains and inspects the virtual server table of
.BR xdpvsd (8),
the xdpvs daemon, over its unix socket.
It takes the commands and options of
.BR ipvsadm (8)
and prints its formats, so that scripts and habits carry over, with DPVS's extensions:
FULLNAT real servers
.RB ( \-b ),
local addresses
.RB ( \-\-add\-laddr ),
the SYN proxy
.RB ( \-j ).
Health checks (keepalived's checkers) run in the daemon
.RB ( \-\-health ).
A change is applied as a whole or not at all, saved in the daemon's configuration file before it
takes effect.
With no command,
.B xdpvsadm
opens an interactive shell over the same socket, with line editing, history and completion.
.PP
The daemon's socket is
.B \-\-socket
.IR PATH ,
else
.BR $XDPVS_SOCKET ,
else
.IR /run/xdpvs/xdpvs.sock .
`

const manualHealthIntro = `.SH HEALTH CHECK OPTIONS
.B xdpvsadm \-\-health \-t|\-u
.I service-address
.B \-\-check
.I kind
.RI [ options ]
sets the service's check, run by the daemon against each of its real servers; a server that fails
.B \-\-fall
checks in a row is quiesced or removed
.RB ( \-\-on\-fail ),
one that passes
.B \-\-rise
checks comes back, and the sorry server takes the traffic while none is up.
`

const manualVerbs = `.SH OTHER COMMANDS
.TP
.BI "import\-keepalived " FILE " \fR[\fB\-\-apply\fR]"
Translate the load-balancing part of a keepalived configuration (virtual_server,
virtual_server_group, real_server and their checkers; include directives followed) into xdpvs's:
print it in the format of
.B \-S
(for
.B \-R
or the daemon's configuration file) or, with
.BR \-\-apply ,
send it to the daemon as one change.
Every part not translated, or translated only approximately, is named on the error output as
.IR FILE : LINE :
and why: VRRP, notification scripts, digests, fwmark services, a second checker of a server, the
checkers of a service that differ (xdpvs checks a service's servers alike).
.TP
.B drain\fR, \fBundrain
Withdraw every BGP announcement (with GRACEFUL_SHUTDOWN for the daemon's \-\-drain\-time) while
forwarding goes on, or announce again what the policy allows.
.TP
.BR "ha role " master | backup | fault
What keepalived's notify scripts call on a change of VRRP state (its capitals are taken): a
master forwards, a backup or faulty director forwards nothing (every packet it is handed is
dropped as
.BR standby )
and announces nothing over BGP. Refused unless the daemon runs with
.BR \-\-ha .
.TP
.B ha ready
keepalived's track script: exit status 0 when the director may take traffic (its XDP programs
attached, every worker alive, the connection sync's bulk copy done), otherwise 1 with one line
saying why.
`

const manualTail = `.SH LISTING FORMATS
.B \-L
prints ipvsadm's table, always numeric:
.PP
.RS
.nf
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  \-> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.10:80 wrr
  \-> 198.18.1.2:8080              Masq    1      0          10
  \-> 198.18.2.2:8080              Masq    3      0          31
.fi
.RE
.PP
Forward is Masq (NAT), Route (DR), Tunnel (TUN) or FullNat; a quiesced server shows weight 0.
.B \-\-stats
adds Conns InPkts OutPkts InBytes OutBytes,
.B \-\-rate
CPS InPPS OutPPS InBPS OutBPS,
.B \-c
lists the connections (pro expire state source virtual destination) and
.B \-\-timeout
the timeouts, as ipvsadm.
.B \-o json
gives the same data as JSON.
.SH EXAMPLES
NAT: a web service on two real servers, weights 1 and 3:
.PP
.RS
.nf
xdpvsadm \-A \-t 198.18.0.10:80 \-s wrr
xdpvsadm \-a \-t 198.18.0.10:80 \-r 198.18.1.2:8080 \-m \-w 1
xdpvsadm \-a \-t 198.18.0.10:80 \-r 198.18.2.2:8080 \-m \-w 3
.fi
.RE
.PP
DR (the real servers on the director's link, the VIP on their loopback), persistent for 600 s:
.PP
.RS
.nf
xdpvsadm \-A \-t 198.18.0.10:443 \-s sh \-p 600
xdpvsadm \-a \-t 198.18.0.10:443 \-r 198.18.0.21 \-g
.fi
.RE
.PP
TUN (IPIP to a real server elsewhere):
.PP
.RS
.nf
xdpvsadm \-A \-u 198.18.0.10:53 \-s mh
xdpvsadm \-a \-u 198.18.0.10:53 \-r 198.18.20.2 \-i
.fi
.RE
.PP
FULLNAT with a local address on eth1 and the SYN proxy:
.PP
.RS
.nf
xdpvsadm \-A \-t 198.18.0.10:80 \-s wlc \-j
xdpvsadm \-a \-t 198.18.0.10:80 \-r 198.18.1.2:8080 \-b
xdpvsadm \-\-add\-laddr \-z 198.18.1.1 \-t 198.18.0.10:80 \-F eth1
.fi
.RE
.PP
An HTTP health check with a sorry server, and a look at it:
.PP
.RS
.nf
xdpvsadm \-\-health \-t 198.18.0.10:80 \-\-check http \-\-path /healthz \-\-sorry 198.18.3.2:8080 \-m
xdpvsadm show health
.fi
.RE
.PP
Move from keepalived:
.PP
.RS
.nf
xdpvsadm import\-keepalived /etc/keepalived/keepalived.conf > xdpvs.conf
xdpvsadm \-R < xdpvs.conf
.fi
.RE
.PP
Save and restore:
.PP
.RS
.nf
xdpvsadm \-S > rules; xdpvsadm \-C; xdpvsadm \-R < rules
.fi
.RE
.SH FILES
.TP
.I /run/xdpvs/xdpvs.sock
The daemon's socket.
.TP
.I /etc/xdpvs/xdpvs.conf
The daemon's configuration file (the unit's), in the format of
.BR \-S .
.SH ENVIRONMENT
.TP
.B XDPVS_SOCKET
The daemon's socket, unless
.B \-\-socket
is given.
.SH EXIT STATUS
0 on success (a change with warnings too: they are printed as "warning: ..." lines), 1 when the
daemon refuses or cannot be reached, 2 for a command-line error, as ipvsadm.
.SH SEE ALSO
.BR xdpvsd (8),
.BR ipvsadm (8),
.BR keepalived.conf (5)
`
