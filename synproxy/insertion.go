package synproxy

import "github.com/xdpvs/xdpvs/header"

// Insertion is data the director put into the client's byte stream toward the real server (the
// PROXY protocol header, package proxyproto): N bytes in front of the client's first byte, which is
// sequence number At (the client's ISN + 1). The client's numbers after At are N more on the
// server's side; the server's acknowledgments and SACK edges of those bytes are N less on the
// client's; those within the inserted bytes acknowledge nothing of the client's and become At.
// 8 bytes, no pointers.
type Insertion struct {
	At Value
	N  Size
}

// TranslateInsertion rewrites the TCP segment tcp of a connection with an Insertion in place, in
// direction dir, updating the TCP checksum incrementally (RFC 1624). It is the SYN proxy's Translate
// for the client's sequence space (Translate shifts the server's); a connection may need both.
//
//	ClientToServer:  seq += N when seq is after At (the segment at At is the one the caller
//	                 inserts the bytes into, and keeps its number)
//	ServerToClient:  ack and the SACK edges: x − N when x ≥ At+N, At when At < x < At+N
//
// It returns OK, or Malformed if the header or the option list is malformed; the segment is then
// left as it was.
func TranslateInsertion(tcp header.TCP, dir Dir, in *Insertion) Result {
	if !tcp.IsValid(len(tcp)) {
		return Malformed
	}
	acc := uint64(^tcp.Checksum())
	if dir == ClientToServer {
		if old := Value(tcp.SequenceNumber()); in.At.LessThan(old) {
			nw := uint32(old.Add(in.N))
			tcp.SetSequenceNumber(nw)
			acc += csumDelta32(uint32(old), nw, false)
			tcp.SetChecksum(^fold(acc))
		}
		return OK
	}
	opts := tcp.Options()
	if len(opts) > 0 && !isFastTS(opts) && !optionsWellFormed(opts) {
		return Malformed
	}
	if tcp.Flags()&header.TCPFlagAck != 0 {
		old := tcp.AckNumber()
		nw := in.Unshift(old)
		tcp.SetAckNumber(nw)
		acc += csumDelta32(old, nw, false)
	}
	if len(opts) > 0 && !isFastTS(opts) {
		it := header.NewTCPOptionIterator(opts)
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Kind != header.TCPOptionSACK || len(o.Data)%header.TCPOptionSACKBlockSize != 0 {
				continue
			}
			for i := 0; i < len(o.Data); i += 4 {
				off := o.Offset + 2 + i
				old := uint32(opts[off])<<24 | uint32(opts[off+1])<<16 | uint32(opts[off+2])<<8 | uint32(opts[off+3])
				nw := in.Unshift(old)
				opts[off], opts[off+1], opts[off+2], opts[off+3] = byte(nw>>24), byte(nw>>16), byte(nw>>8), byte(nw)
				acc += csumDelta32(old, nw, off&1 != 0)
			}
		}
	}
	tcp.SetChecksum(^fold(acc))
	return OK
}

// CanTranslateInsertion reports whether TranslateInsertion would translate tcp in direction dir
// (rather than return Malformed), without changing it: what a caller checks before it changes
// anything else of the packet.
func CanTranslateInsertion(tcp header.TCP, dir Dir) bool {
	if !tcp.IsValid(len(tcp)) {
		return false
	}
	opts := tcp.Options()
	return dir == ClientToServer || len(opts) == 0 || isFastTS(opts) || optionsWellFormed(opts)
}

// Unshift maps a server-side number of the client's stream to the client's: x − N past the
// inserted bytes, At within them, x up to At.
func (in *Insertion) Unshift(x uint32) uint32 {
	v := Value(x)
	switch {
	case !in.At.LessThan(v):
		return x
	case in.At.Add(in.N).LessThanEq(v):
		return uint32(v.Sub(in.N))
	}
	return uint32(in.At)
}
