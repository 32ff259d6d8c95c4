// Package synproxy owns the SYN proxy of SYN-proxied (-j) NAT and FULLNAT services, as in Alibaba's LVS
// and DPVS (src/ipvs/ip_vs_synproxy.c): the director answers a client's SYN itself with a SYN cookie,
// keeps nothing until the client's ACK proves the cookie, and only then opens the connection to the
// real server, translating sequence numbers (and SACK blocks, timestamps and window scale where they
// differ) between the two for the life of the connection.
//
// It owns the cookie (encode and verify, MSS/WS/SACK/TS bits), the packets of the three handshake
// steps, and the translation. It does not own tables, timers or transmission: every function works
// in place on the bytes it is given and returns a Result (OK, or why not, for the dataplane's
// counters) plus, where it builds a packet, the packet's new length. Nothing here allocates, locks or
// logs on the per-packet path. It imports only the standard library and header.
//
// # The flow
//
//	client                         director                          real server
//	  | SYN isn=C, opts             |                                     |
//	  |---------------------------->| Cookies.Answer: in place, no state  |
//	  |  SYN/ACK seq=K ack=C+1      |   K = cookie(tuple, C, slot, opts)  |
//	  |<----------------------------|   TSval = V (WS, SACK in low bits)  |
//	  | ACK seq=C+1 ack=K+1 TSecr=V |                                     |
//	  |---------------------------->| Cookies.Validate → Handshake        |
//	  |                             |   (conn created, ACK copied)        |
//	  |                             | BuildSYN: SYN seq=C, client's opts  |
//	  |                             |------------------------------------>|
//	  |                             |            SYN/ACK seq=S ack=C+1 TSval=W
//	  |                             |<------------------------------------|
//	  |                             | Handshake.Delta: Seq=S−K, TS=W−V    |
//	  |<----------------------------| replay ACK(+data): Translate(C→S)   |
//	  |                             |  ack K+1 → S+1, TSecr V → W ------->|
//	  |                             |                                     |
//	  | ====== established: every segment goes through Translate ====== |
//
// # Translation, direction by direction
//
// The client numbers our side of the stream from K (the cookie) and stamps our side with our clock
// (V, our SYN/ACK's TSval); the real server numbers the same bytes from S and stamps them with its
// own clock (W). Delta.Seq = S − K and Delta.TS = W − V, both modulo 2^32. The client's own sequence
// numbers and timestamps are the same on both legs and never change.
//
//	                 client ──────────────► director ──────────────► real server
//	ClientToServer:  ack (K space)          ack + Seq                (S space)
//	                 SACK edges (K space)   edges + Seq              (S space)
//	                 TSecr (V space)        TSecr + TS               (W space)
//	                 seq, TSval             unchanged
//	                 window (ClientWS)      × 2^ClientWS if the server did not agree to scaling
//
//	                 client ◄────────────── director ◄────────────── real server
//	ServerToClient:  seq (K space)          seq − Seq                (S space)
//	                 TSval (V space)        TSval − TS               (W space)
//	                 ack, SACK edges, TSecr unchanged (they count the client's bytes and clock)
//	                 window (ProxyWS)       × 2^ServerWS / 2^ProxyWS when the two differ
//
// # The cookie
//
// Our ISN is a 32-bit cookie: a MAC (the top bits of SipHash-2-4 keyed with a 128-bit secret over
// saddr, daddr, sport, dport, the client's ISN, the time slot and the option data), the MSS index
// (3 bits, MSSTable), the time slot modulo 4 (2 bits) and the parity of the secret's generation
// (1 bit). With timestamps, the client's window scale and SACK-permitted ride in the low 6 bits of
// our TSval as in Linux (the ACK echoes them in TSecr) and the MAC has 26 bits; without, they take 5
// bits of the cookie (DPVS include/ipvs/synproxy.h does the same for every option) and the MAC has
// 21. The MAC covers them either way. A cookie verifies in its own slot and the next (Config.Slot,
// 64 s), with the current secret or the previous one: Rotate keeps one generation back, and readers
// load the pair through an atomic pointer. Every check costs exactly one hash.
//
// # What the dataplane does
//
//   - SYN to a -j service: Cookies.Answer in place, swap MACs, send back out of the same port. No
//     state; a retransmitted SYN is answered again with the same cookie (same slot).
//   - Non-SYN from a client with no connection: Cookies.Validate. Not OK: drop and count the
//     Result. OK: schedule, create the connection with the Handshake, copy the ACK (and its data)
//     to a preallocated buffer, BuildSYN in place, NAT/FULLNAT rewrite, send. Further client
//     segments until the server answers are dropped (the client retransmits them).
//   - Real server's SYN/ACK: Handshake.Delta; keep the Delta; drop the SYN/ACK; replay a copy of
//     the stored ACK through Translate(ClientToServer) and NAT.
//     A RST from the server, or no answer in time: BuildRST on a copy of the stored ACK resets
//     the client (its sequence number is K+1, exactly what the client expects).
//     A retransmitted SYN/ACK (the replayed ACK was lost) is answered by replaying the stored
//     ACK again, so keep it until the server's first non-SYN segment.
//   - Then every segment: Translate in its direction, with the NAT rewrite.
//
// The real server must run timestamps if clients do (Linux does by default): a client that
// negotiated them with us expects them on every segment. Window scale, SACK and MSS may differ:
// windows are rescaled, SACK is only used where both sides agreed, and the client sizes its segments
// to our SYN/ACK's MSS (pass Answer an MSS the path to the real server can carry). ECN is not
// negotiated.
package synproxy
