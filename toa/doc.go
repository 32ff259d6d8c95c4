// Package toa owns the TCP Option Address (TOA) as DPVS defines it (kmod/toa/toa.h): TCP option kind
// 254 carrying the client's address and port from a FULLNAT director to the real server, whose source
// address the director has replaced by one of its local addresses.
//
//	IPv4 client, 8 bytes:                      IPv6 client, 20 bytes:
//	+--------+--------+--------+--------+      +--------+--------+--------+--------+
//	| 254    | 8      |   client port   |      | 254    | 20     |   client port   |
//	+--------+--------+--------+--------+      +--------+--------+--------+--------+
//	|        client IPv4 address        |      |  client IPv6 address (16 bytes)   |
//	+--------+--------+--------+--------+      +        ...                        +
//
// The port and the address are in network byte order. Both sizes are multiples of 4, so an option
// appended to a 32-bit aligned option list keeps it aligned. The size follows the client's address
// family, not the packet's: a NAT64 connection (IPv6 client, IPv4 real server) carries the 20-byte
// option in an IPv4 packet, as DPVS does.
//
// The package has three parts:
//
//   - Insert adds the option in place to an IP packet holding a TCP segment (the director's side). It
//     returns a Result: OK, or the one reason it could not (no tailroom, options full, MTU, malformed,
//     already present), for the dataplane to count. It neither allocates nor logs.
//   - Decode finds the option in a TCP option list (the real server's side).
//   - OptionSize is also by how much the dataplane lowers the MSS in the handshake so that the option
//     always fits (see its comment for the reasoning).
//
// The package imports only the standard library and header. Reading what a real server's xdpvs-rs
// agent recorded (ClientAddr for a net.Conn) needs the bpf(2) system call and lives in toa/rs.
package toa
