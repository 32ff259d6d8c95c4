// Package syncrec is the record of connection sync (docs/connection-sync.md): one connection as it
// travels between directors, in a fixed Size bytes, so that a worker can write it into a ring slot
// on the packet path without allocating, and a director can read it back without trusting it.
//
// A record names everything by value, never by a local index: both tuples (the reply tuple's source
// is the real server, its destination the client or, for FULLNAT, the local address and port), the
// protocol, the forwarding method, IPVS's state and the remaining timeout, FULLNAT's TOA-sent flag,
// the SYN proxy's deltas (sequence, timestamps, window scales), where a PROXY protocol header
// begins the client's stream and whether it has gone out, and the remaining time of the
// persistence template that chose the real server. Decode checks every field it can (kinds,
// families, protocol, method, state, window scales) and says what was wrong; a record that decodes
// is still only a claim, which the receiving dataplane checks against its own configuration.
//
// Layout (big-endian, Size = 112 bytes):
//
//	 0  kind          1: conn (created or updated), 2: closed
//	 1  proto         6 TCP, 17 UDP
//	 2  method        control.ForwardMethod: 0 NAT, 1 DR, 2 TUN, 3 FULLNAT
//	 3  state         conntrack.State
//	 4  flags         1 TOA sent, 2 assured (UDP), 4 SYN-proxied, 8 persistence template,
//	                  16 PROXY protocol, 32 its header sent
//	 5  sp flags      synproxy.DeltaFlags
//	 6  sp ws         client, proxy, server window scales (3 bytes)
//	 9  reserved      3 bytes, zero
//	12  timeout       remaining, ms (4)
//	16  tmpl timeout  remaining time of the persistence template, ms (4)
//	20  sp seq        server ISN − cookie ISN (4)
//	24  sp ts         server TSval − our TSval (4)
//	28  orig src      client address (16, IPv4 mapped)
//	44  orig dst      virtual address (16)
//	60  reply src     real server address (16)
//	76  reply dst     client, or FULLNAT local address (16)
//	92  orig ports    client port, virtual port (2 + 2)
//	96  reply ports   real server port, client or local port (2 + 2)
//	100 exported      when the director wrote it, Unix ns (8): the receiver's sync lag
//	108 pp at         PROXY protocol: the client's ISN + 1 (4); zero without
package syncrec
