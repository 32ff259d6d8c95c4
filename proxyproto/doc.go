// Package proxyproto owns the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
// 2) as a FULLNAT director writes it: the client's address and port and the virtual service's,
// placed at the start of the client's byte stream toward the real server (DPVS's
// --proxy-protocol), so that a real server such as nginx (`listen ... proxy_protocol`) or HAProxy
// (`accept-proxy`) learns the client with no kernel module or agent.
//
//	v1, text, TCP only, at most 107 bytes:   "PROXY TCP4 198.18.0.1 198.18.1.1 40000 80\r\n"
//	                                         "PROXY TCP6 2001:2::1 2001:2::100 40000 80\r\n"
//	v2, binary, 28 bytes (IPv4) or 52 (IPv6):
//	+------------------------------------------------+--------+--------+-----------------+
//	| signature \r\n\r\n\0\r\nQUIT\n (12 bytes)       | 0x21   | fam    | length (12/36)  |
//	+------------------------------------------------+--------+--------+-----------------+
//	| source address | destination address | source port | destination port             |
//	+----------------------------------------------------------------------------------------+
//
// 0x21 is version 2, command PROXY; fam is 0x11 (IPv4, TCP), 0x12 (IPv4, UDP), 0x21 (IPv6, TCP) or
// 0x22 (IPv6, UDP). The addresses are those of the client's side, the tuple the client sent: a
// NAT64 connection's header is TCP6 / IPv6 inside an IPv4 packet.
//
// Encode writes a header into a caller's buffer; Insert puts bytes at the start of the payload of
// the TCP segment or UDP datagram of an IP packet, in place, and fixes the lengths and checksums
// incrementally. Neither allocates nor logs; Insert returns a Result for the dataplane to count.
// The sequence numbers the inserted bytes shift are synproxy.Insertion's.
package proxyproto
