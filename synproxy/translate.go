package synproxy

import (
	"encoding/binary"
	"math/bits"

	"github.com/xdpvs/xdpvs/header"
)

// Dir is the direction of a segment through the director.
type Dir uint8

const (
	// ClientToServer: from the client toward the real server (conntrack's original direction).
	ClientToServer Dir = iota
	// ServerToClient: from the real server toward the client (the reply direction).
	ServerToClient
)

// String returns "client_to_server" or "server_to_client".
func (d Dir) String() string {
	if d == ServerToClient {
		return "server_to_client"
	}
	return "client_to_server"
}

// DeltaFlags say which translations a Delta applies besides sequence numbers.
type DeltaFlags uint8

const (
	// DeltaTS: timestamps are in use on both legs; TSecr (client → server) and TSval (server →
	// client) are translated by TS.
	DeltaTS DeltaFlags = 1 << iota
	// DeltaClientWS: window scaling is in effect between the client and the director (the client
	// asked for it; we answered with ProxyWS).
	DeltaClientWS
	// DeltaServerWS: window scaling is in effect between the director and the real server too (it
	// answered our SYN with ServerWS).
	DeltaServerWS
)

// Delta is the per-connection translation between the client's view (our cookie ISN, our TSval) and
// the real server's (its ISN, its TSval), made by Handshake.Delta. 12 bytes, no pointers.
type Delta struct {
	// Seq is the server's ISN − our cookie ISN, modulo 2^32.
	Seq Size
	// TS is the TSval of the server's SYN/ACK − the TSval of our SYN/ACK, modulo 2^32 (if DeltaTS).
	TS    Size
	Flags DeltaFlags
	// ClientWS is the client's shift, ProxyWS ours to the client, ServerWS the server's to us.
	ClientWS, ProxyWS, ServerWS uint8
}

// Translate rewrites the TCP segment tcp (header.TCP(frame[L4Offset:L3Offset+L3Length])) of an
// established SYN-proxied connection in place, in direction dir, updating the TCP checksum
// incrementally (RFC 1624). It does not touch addresses or ports (the NAT rewrite does, before or
// after). Arithmetic is modulo 2^32, so every field is right across the wrap-around.
//
//	ClientToServer:  ack    += Seq   (when ACK is set)
//	                 SACK blocks (left and right edges) += Seq
//	                 TSecr  += TS    (DeltaTS, when ACK is set)
//	                 window <<= ClientWS, capped at 65535, when only the client leg scales
//	ServerToClient:  seq    -= Seq
//	                 TSval  -= TS    (DeltaTS)
//	                 window  = window << ServerWS >> ProxyWS (each shift only where that leg
//	                           scales), capped at 65535, when the two differ
//
// SACK blocks from the server are the server's view of the client's data, which is not translated,
// and stay as they are; so do the client's TSval and the server's TSecr. Windows of SYN segments are
// never scaled and are left alone.
//
// It returns OK, or Malformed if the header or the option list is malformed; the segment is then
// left as it was, so that the caller drops it unchanged.
func Translate(tcp header.TCP, dir Dir, d *Delta) Result {
	if !tcp.IsValid(len(tcp)) {
		return Malformed
	}
	c2s := dir == ClientToServer
	opts := tcp.Options()
	walk := len(opts) > 0 && (c2s || d.Flags&DeltaTS != 0)
	if walk && !isFastTS(opts) && !optionsWellFormed(opts) {
		return Malformed
	}
	acc := uint64(^tcp.Checksum())
	f := tcp.Flags()
	if c2s {
		if f&header.TCPFlagAck != 0 {
			old := tcp.AckNumber()
			nw := uint32(Value(old).Add(d.Seq))
			tcp.SetAckNumber(nw)
			acc += csumDelta32(old, nw, false)
		}
	} else {
		old := tcp.SequenceNumber()
		nw := uint32(Value(old).Sub(d.Seq))
		tcp.SetSequenceNumber(nw)
		acc += csumDelta32(old, nw, false)
	}
	if f&header.TCPFlagSyn == 0 {
		var l, r uint8
		if c2s {
			if d.Flags&(DeltaClientWS|DeltaServerWS) == DeltaClientWS {
				l = d.ClientWS
			}
		} else {
			if d.Flags&DeltaServerWS != 0 {
				l = d.ServerWS
			}
			if d.Flags&DeltaClientWS != 0 {
				r = d.ProxyWS
			}
		}
		if l != r {
			old := tcp.WindowSize()
			nw := uint16(min(uint32(old)<<l>>r, 0xFFFF))
			tcp.SetWindowSize(nw)
			acc += uint64(^old) + uint64(nw)
		}
	}
	if walk {
		translateOptions(opts, c2s, f&header.TCPFlagAck != 0, d, &acc)
	}
	tcp.SetChecksum(^fold(acc))
	return OK
}

// isFastTS reports whether opts is the usual NOP NOP TS layout of an established segment.
func isFastTS(opts []byte) bool {
	return len(opts) == 12 && opts[0] == header.TCPOptionNOP && opts[1] == header.TCPOptionNOP &&
		opts[2] == header.TCPOptionTimestamps && opts[3] == header.TCPOptionTimestampsLength
}

// optionsWellFormed reports whether the option list walks to its end, or to an EOL, without a
// malformed option: what translateOptions needs to translate all of it.
func optionsWellFormed(opts []byte) bool {
	it := header.NewTCPOptionIterator(opts)
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	return !it.Malformed()
}

// translateOptions rewrites the SACK blocks and timestamps of opts (which starts at an even offset,
// byte 20 of the TCP header, and is well formed: optionsWellFormed) and adds the checksum changes
// to acc.
func translateOptions(opts []byte, c2s, ack bool, d *Delta, acc *uint64) {
	if isFastTS(opts) {
		translateTS(opts, 4, c2s, ack, d, acc)
		return
	}
	it := header.NewTCPOptionIterator(opts)
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		switch {
		case o.Kind == header.TCPOptionTimestamps && len(o.Data) == 8:
			translateTS(opts, o.Offset+2, c2s, ack, d, acc)
		case o.Kind == header.TCPOptionSACK && c2s:
			if len(o.Data)%header.TCPOptionSACKBlockSize != 0 {
				continue // not a SACK option Linux would read: leave it alone
			}
			off := o.Offset + 2
			for i := 0; i < len(o.Data); i += 4 {
				*acc += rewrite32(opts, off+i, d.Seq, false)
			}
		}
	}
}

// translateTS rewrites the timestamps whose TSval starts at opts[off].
func translateTS(opts []byte, off int, c2s, ack bool, d *Delta, acc *uint64) {
	if d.Flags&DeltaTS == 0 {
		return
	}
	if c2s {
		if ack {
			*acc += rewrite32(opts, off+4, d.TS, false) // TSecr += TS
		}
		return
	}
	*acc += rewrite32(opts, off, d.TS, true) // TSval -= TS
}

// rewrite32 adds (or, with sub, subtracts) s to the big-endian 32-bit value at b[off:] and returns
// the change to the checksum sum. off is relative to an even offset of the segment.
func rewrite32(b []byte, off int, s Size, sub bool) uint64 {
	old := binary.BigEndian.Uint32(b[off:])
	v := Value(old).Add(s)
	if sub {
		v = Value(old).Sub(s)
	}
	binary.BigEndian.PutUint32(b[off:], uint32(v))
	return csumDelta32(old, uint32(v), off&1 != 0)
}

// csumDelta32 returns the one's-complement sum ~old + new over the two 16-bit halves of a 32-bit field
// (RFC 1624 eqn. 3), folded to 16 bits; for a field at an odd offset the words straddle it, and the
// sum of its bytes taken at that offset is the byte swap of the sum taken at an even one (RFC 1071
// §2(B)).
func csumDelta32(old, new uint32, odd bool) uint64 {
	s := uint64(^uint16(old>>16)) + uint64(^uint16(old)) + uint64(uint16(new>>16)) + uint64(uint16(new))
	if !odd {
		return s
	}
	return uint64(bits.ReverseBytes16(fold(s)))
}

// fold folds a sum of 16-bit words to 16 bits with end-around carry.
func fold(s uint64) uint16 {
	s = s&0xFFFFFFFF + s>>32
	s = s&0xFFFF + s>>16
	s = s&0xFFFF + s>>16
	s = s&0xFFFF + s>>16
	return uint16(s)
}
