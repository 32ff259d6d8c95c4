// Package bgp is the director's BGP speaker: an embedded GoBGP (github.com/osrg/gobgp/v4, as a
// library) that keeps its sessions with the routers and its RIB in step with the set of
// prefixes it is given. It has one concern and knows nothing of services or of the dataplane:
// what is announced, and when, is package announce's policy.
//
//	New      starts the speaker: the global AS and router ID, one session per peer
//	Set      makes the announced routes exactly the given ones (each a /32 or /128, optionally
//	         with RFC 8326's GRACEFUL_SHUTDOWN community), adding and withdrawing the difference
//	Peers    the sessions: address, AS, state, uptime, prefixes advertised
//	Close    withdraws everything and closes the sessions with a Cease notification
//
// Sessions. IPv4 prefixes go to the IPv4 peers and IPv6 prefixes to the IPv6 peers (each
// session carries its own family, unicast). The speaker is active only: it does not listen on
// port 179 (ListenPort 0) and connects to each peer itself, so that it needs no privileged port
// and draws no connection from anyone else; the peers may be passive. The next hop is the
// session's local address unless NextHop4/NextHop6 say otherwise (xdpvsd --bgp-next-hop).
//
// Fate sharing. The speaker lives in the daemon's process: when the daemon dies, its kernel
// closes the TCP sessions and the routers withdraw at once; when it is stopped (SIGSTOP, a
// machine that hangs) the routers withdraw when the hold time (Hold, default 9 s) expires.
//
// TCP MD5 (RFC 2385, Password) is GoBGP's: it sets TCP_MD5SIG on its sockets, which Linux
// provides when the kernel is built with CONFIG_TCP_MD5SIG. BFD (BFD, RFC 5880/5881
// single-hop asynchronous mode, GoBGP's own implementation) resets a session whose BFD session
// goes down; it listens on UDP 3784, has no authentication, echo or demand mode, and does not
// adopt the peer's advertised intervals.
//
// This package links GoBGP, which reaches golang.org/x/sys/unix for its socket options: it is
// the one mgmt package besides metrics that may (internal/archtest).
package bgp
