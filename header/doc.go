// Package header owns the zero-copy views over packet bytes that the xdpvs dataplane reads and rewrites on
// every frame: Ethernet (with up to two 802.1Q/802.1ad tags), IPv4, IPv6 and its extension headers, TCP
// and its options, UDP, ICMP and ICMPv6; the full and RFC 1624 incremental Internet checksums; the
// one-pass frame parser (Packet.Parse); the flow key Tuple; and SipHash (SipHash24 for the SYN
// proxy's cookies, HSipHash32 for Maglev), which packages that may import only header share.
//
// Views follow gVisor's pkg/tcpip/header: a view is a named []byte (type IPv4 []byte) whose accessors
// are named after the RFC fields and index the slice directly. Accessors neither copy nor allocate;
// they assume the view is long enough for the field they touch, which IsValid (or Packet.Parse) has
// checked, and otherwise panic like any out-of-range slice index. Addresses are returned as sub-slices
// of the header, so writing through them writes the packet.
//
// Headers the dataplane makes rather than rewrites (tunnel and NAT64 headers, ICMP errors, the SYN
// proxy's answers, the generator's frames) are written whole by one encoder per header, gVisor's
// style: fill an IPv4Fields, IPv6Fields, TCPFields or UDPFields and call the view's Encode.
//
// Checksum values come in two forms, and every function says which one it takes and returns:
//
//   - a sum: the one's-complement sum of 16-bit big-endian words, not complemented (Checksum,
//     ChecksumCombine, PseudoHeaderChecksum, the CalculateChecksum methods). A buffer whose stored
//     checksum is right sums to 0xFFFF.
//   - a field: the value stored in a header, the complement of the sum taken with the field zeroed
//     (the Checksum/SetChecksum accessors, ChecksumUpdate16, ChecksumUpdateAddress and the
//     ...WithChecksumUpdate methods, which apply RFC 1624 eqn. 3 to it).
//
// Per-packet results are values (ParseResult, bool), never errors; nothing here logs or allocates,
// and the package imports only the standard library.
package header
