package synproxy

import "github.com/xdpvs/xdpvs/header"

// BuildSYN turns the client's cookie ACK in ip (an IP packet, as for Answer) into the SYN that opens
// the connection to the real server, in place, and returns its length. The IP header is kept as it is
// (addresses client → VIP, ports unchanged: the dataplane applies its NAT or FULLNAT rewrite next, as
// for a client's own SYN); only its length, and the IPv4 header checksum, change.
//
// The SYN carries the client's ISN (h.ClientISN, the ACK's sequence number − 1), acknowledgment 0, no
// payload (keep a copy of the ACK first: its data is replayed once the real server answers), window
// the ACK's window in bytes (capped at 65535), and the client's options from h: MSS, SACK-permitted,
// window scale and timestamps with the client's TSval and TSecr 0. The TCP checksum is computed in
// full. cap(ip) must hold up to 8 bytes more than a pure ACK with timestamps (NoRoom otherwise). On
// any Result but OK, ip is unchanged.
func BuildSYN(ip []byte, h *Handshake) (n int, r Result) {
	s, r := parse(ip)
	if r != OK {
		return 0, r
	}
	tcp := header.TCP(ip[s.l4:s.end])
	win := uint32(tcp.WindowSize())
	if h.Opts.HasWS {
		win <<= h.Opts.WS
	}
	o := h.Opts
	o.HasMSS = true
	o.TSEcr = 0
	var ob [header.TCPSynOptionsMaxSize]byte
	ol := header.EncodeTCPSynOptions(o, ob[:])
	n = s.l4 + header.TCPMinimumSize + ol
	if n > cap(ip) {
		return 0, NoRoom
	}
	sport, dport := tcp.SourcePort(), tcp.DestinationPort()
	ip = ip[:n]
	setIPLength(ip, s.v6, n)
	t := header.TCP(ip[s.l4:n])
	writeTCPHeader(t, sport, dport, h.ClientISN, 0, header.TCPFlagSyn, uint16(min(win, 0xFFFF)), ob[:ol])
	t.FillChecksum(pseudo(ip, s.v6, len(t)))
	return n, OK
}

// Delta computes the translation for the life of the connection from the real server's SYN/ACK
// (synack, its TCP segment: header.TCP(frame[L4Offset:L3Offset+L3Length])), which must acknowledge
// the SYN that BuildSYN made from h. The SYN/ACK itself goes no further; the dataplane then replays
// the client's stored ACK, and any data, through
// Translate(ClientToServer), whose acknowledgment number becomes the server's ISN + 1.
//
// Results: OK; Malformed; NotSYNACK (SYN or ACK clear, or RST set); BadAck (the acknowledgment number
// is not h.ClientISN+1). The real server's MSS is not part of the delta: the client already sends
// segments sized to our SYN/ACK's MSS (read it with synack.MSS() to count mismatches).
func (h *Handshake) Delta(synack header.TCP) (d Delta, r Result) {
	if !synack.IsValid(len(synack)) {
		return d, Malformed
	}
	f := synack.Flags()
	if f&(header.TCPFlagSyn|header.TCPFlagAck) != header.TCPFlagSyn|header.TCPFlagAck || f&header.TCPFlagRst != 0 {
		return d, NotSYNACK
	}
	if synack.AckNumber() != h.ClientISN+1 {
		return d, BadAck
	}
	opts, ok := header.ParseTCPSynOptions(synack.Options())
	if !ok {
		return d, Malformed
	}
	d.Seq = Value(h.CookieISN).Size(Value(synack.SequenceNumber()))
	if h.Opts.HasTS && opts.HasTS {
		d.Flags |= DeltaTS
		d.TS = Value(h.Opts.TSEcr).Size(Value(opts.TSVal))
	}
	if h.Opts.HasWS {
		d.Flags |= DeltaClientWS
		d.ClientWS, d.ProxyWS = h.Opts.WS, h.ProxyWS
		if opts.HasWS {
			d.Flags |= DeltaServerWS
			d.ServerWS = opts.WS
		}
	}
	return d, OK
}

// BuildACK turns a real server's SYN/ACK in ip (an IP packet, as it arrived: from the server to the
// client's address as the server sees it) into the ACK that completes the server's handshake, in
// place: addresses and ports swapped, sequence number = its acknowledgment number, acknowledgment
// number = its sequence number + 1, flags ACK, window win (unscaled, as the SYN advertised none),
// and, when the SYN/ACK carries timestamps, a timestamps option echoing its TSval with its TSecr as
// ours (the value our SYN sent: never older). A fresh IP header with TTL 64, full checksums. The
// caller swaps the MAC addresses and sends it back where the SYN/ACK came from.
//
// Use: once the client's stored segment was replayed and its slot freed, a SYN/ACK the server
// sends again (the replay was lost) is answered with this ACK, so no slot needs to outlive the
// replay.
func BuildACK(ip []byte, win uint16) (n int, r Result) {
	s, r := parse(ip)
	if r != OK {
		return 0, r
	}
	tcp := header.TCP(ip[s.l4:s.end])
	if tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst|header.TCPFlagFin) != header.TCPFlagSyn|header.TCPFlagAck {
		return 0, NotSYNACK
	}
	o, ok := parseOptions(tcp.Options())
	if !ok {
		return 0, Malformed
	}
	hl := header.IPv4MinimumSize
	if s.v6 {
		hl = header.IPv6MinimumSize
	}
	var opts [12]byte
	nopts := 0
	if o.HasTS {
		opts[0], opts[1] = header.TCPOptionNOP, header.TCPOptionNOP
		nopts = 2 + header.EncodeTimestampsOption(o.TSEcr, o.TSVal, opts[2:])
	}
	n = hl + header.TCPMinimumSize + nopts
	if n > cap(ip) {
		return 0, NoRoom
	}
	sport, dport := tcp.SourcePort(), tcp.DestinationPort()
	seq, ack := tcp.AckNumber(), tcp.SequenceNumber()+1
	var src, dst [16]byte
	a, b := addrs(ip, s.v6)
	copy(src[:], a)
	copy(dst[:], b)
	ip = ip[:n]
	writeIPHeader(ip, s.v6, &dst, &src, n, DefaultTTL)
	t := header.TCP(ip[hl:n])
	writeTCPHeader(t, dport, sport, seq, ack, header.TCPFlagAck, win, opts[:nopts])
	t.FillChecksum(pseudo(ip, s.v6, len(t)))
	return n, OK
}

// BuildRST turns the segment in ip (an IP packet) into the reset that answers it, in place (RFC 9293
// §3.10.7.1): addresses and ports swapped; if the segment has ACK set, sequence number = its
// acknowledgment number and flags RST; otherwise sequence number 0, acknowledgment number = its
// sequence number + its length (+1 for SYN, +1 for FIN) and flags RST|ACK. No options, no payload,
// window 0, a fresh IP header with TTL 64 and full checksums. The caller swaps the MAC addresses.
//
// Uses: a copy of the client's stored cookie ACK becomes the reset that tells the client the real
// server did not answer (its sequence number is our ISN + 1, exactly what the client expects, RFC
// 5961 §3.2); a real server's SYN/ACK for a connection that is gone becomes the reset that clears
// the server's half-open socket. RST segments are not answered (Malformed).
func BuildRST(ip []byte) (n int, r Result) {
	s, r := parse(ip)
	if r != OK {
		return 0, r
	}
	tcp := header.TCP(ip[s.l4:s.end])
	f := tcp.Flags()
	if f&header.TCPFlagRst != 0 {
		return 0, Malformed
	}
	var seq, ack uint32
	flags := header.TCPFlagRst
	if f&header.TCPFlagAck != 0 {
		seq = tcp.AckNumber()
	} else {
		ack = tcp.SequenceNumber() + uint32(len(tcp.Payload()))
		if f&header.TCPFlagSyn != 0 {
			ack++
		}
		if f&header.TCPFlagFin != 0 {
			ack++
		}
		flags |= header.TCPFlagAck
	}
	hl := header.IPv4MinimumSize
	if s.v6 {
		hl = header.IPv6MinimumSize
	}
	n = hl + header.TCPMinimumSize
	if n > cap(ip) {
		return 0, NoRoom
	}
	sport, dport := tcp.SourcePort(), tcp.DestinationPort()
	var src, dst [16]byte
	a, b := addrs(ip, s.v6)
	copy(src[:], a)
	copy(dst[:], b)
	ip = ip[:n]
	writeIPHeader(ip, s.v6, &dst, &src, n, DefaultTTL)
	t := header.TCP(ip[hl:n])
	writeTCPHeader(t, dport, sport, seq, ack, flags, 0, nil)
	t.FillChecksum(pseudo(ip, s.v6, len(t)))
	return n, OK
}
