// Package health has the health checks of real servers, as keepalived runs them for LVS: one
// Checker per protocol, each in its own file, as in Seesaw's healthcheck.
//
//	tcp.go     TCP_CHECK: up when a connection opens within the timeout
//	http.go    HTTP_GET, SSL_GET: GET --path P [--host H] answered with --expect STATUS;
//	           redirects are not followed, certificates not verified, Host is the TLS server name
//	udp.go     UDP_CHECK: --send TEXT; with --receive TEXT the reply must contain it, otherwise up
//	           unless an ICMP error (port or host unreachable) comes back within the timeout
//	script.go  MISC_CHECK: /PATH RIP RPORT with XDPVS_VIP, XDPVS_VPORT and XDPVS_PROTOCOL in its
//	           environment, exit status 0 = up, its process group killed on timeout; only a
//	           program that the daemon's ScriptDir (xdpvsd --health-scripts DIR) allows, checked
//	           before every run
//
// A Checker returns nil when the server is healthy, else the reason (logged, and listed as
// last_error). The context carries the check's timeout. New builds the checker of a
// model.HealthSpec; the server runs one prober per checked real server and applies rise and fall.
//
// This package links net/http, crypto/tls and os/exec: only the daemon (mgmt/server) imports it.
package health
