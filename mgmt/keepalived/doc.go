// Package keepalived translates the load-balancing part of a keepalived configuration
// (keepalived.conf(5)) into xdpvs's: the -S lines of xdpvsadm, with a --health line per service,
// for `xdpvsadm import-keepalived`.
//
// Read reads a file and the files its include directives name (globs, relative to the including
// file), and Translate walks its virtual_server, virtual_server_group and (DPVS's)
// local_address_group blocks:
//
//	keepalived                          xdpvs
//	virtual_server IP PORT              -A -t|-u VIP:PORT (protocol TCP|UDP)
//	virtual_server group NAME           one service per address (and range) of the group
//	virtual_server fwmark N, group's    -A -f N [-6] (ip_family, else the first real server's family);
//	  fwmark N                            the mark rules, which keepalived.conf lacks: named, with a
//	                                      commented --add-mark example (Result.Comments)
//	lb_algo, lvs_sched                  -s (DPVS's conhash: mh)
//	lb_kind, lvs_method NAT|DR|TUN|FNAT -m | -g | -i | --fullnat on each real server
//	persistence_timeout, _granularity   -p T, -M MASK
//	ops, syn_proxy (DPVS)               -o, -j
//	laddr_group_name (DPVS)             --add-laddr -z LIP [-F IFNAME]
//	real_server IP [PORT]: weight,      -a -r RIP:PORT -w W -x U -y L
//	  uthreshold, lthreshold
//	TCP_CHECK, HTTP_GET, SSL_GET,       --health --check tcp|http|https|script|udp
//	  MISC_CHECK, UDP_CHECK, DNS_CHECK
//	delay_loop, connect_timeout         --interval, --timeout
//	retry (nb_get_retry)                --fall retry+1 (--rise 1, as keepalived)
//	connect_port                        --check-port
//	url { path, status_code }, virtualhost  --path, --expect, --host
//	misc_path, misc_timeout             --script, --timeout
//	inhibit_on_failure                  --on-fail quiesce (else remove)
//	sorry_server IP PORT                --sorry RIP:PORT with the service's method
//	quorum N                            --bgp-min-servers (the VIP's announcement, approximately)
//
// xdpvs has one health check per service where keepalived has checkers per real server: the
// checkers of a service's real servers become one check when they agree, and the first one's
// otherwise (named). Everything else - what xdpvs has no equivalent for (the iptables rules that
// set fwmarks, digests, VRRP, notification scripts, ...) or translates only approximately - is a
// Note with its file and line and the reason: nothing is left out silently.
package keepalived
