package synproxy

import "strconv"

// Result is the outcome of a per-packet call: OK, or the one reason it failed. The dataplane keeps a
// counter per value (xdpvs_synproxy_<name>_total) and drops the packet on anything but OK.
type Result uint8

const (
	// OK: done; the packet (or the returned value) is ready.
	OK Result = iota
	// Malformed: not a complete IPv4 or IPv6 packet carrying a TCP segment with a well-formed header
	// and option list.
	Malformed
	// Fragment: an IP fragment; SYNs and cookie ACKs are never fragmented by honest clients.
	Fragment
	// BadChecksum: the TCP checksum of the client's SYN or ACK does not verify.
	BadChecksum
	// NotSYN: Answer was given a segment that is not a pure SYN (SYN set; ACK, RST and FIN clear).
	NotSYN
	// NotACK: Validate was given a segment that cannot complete a handshake (ACK clear, or SYN or RST
	// set).
	NotACK
	// BadCookie: the acknowledgment number is not a cookie of ours for this tuple, sequence number and
	// options: forged, corrupted, or made with a secret that has been rotated out.
	BadCookie
	// Expired: a cookie of ours, but from a time slot two or three slots old.
	Expired
	// NoRoom: the buffer's capacity cannot hold the packet to emit.
	NoRoom
	// NotSYNACK: Delta was given a segment from the real server that is not a SYN/ACK (or has RST set).
	NotSYNACK
	// BadAck: the real server's SYN/ACK does not acknowledge the SYN we sent (ClientISN+1).
	BadAck

	// NumResults is the number of Result values, for counter arrays.
	NumResults = iota
)

var resultNames = [NumResults]string{
	"ok", "malformed", "fragment", "bad_checksum", "not_syn", "not_ack", "bad_cookie", "expired",
	"no_room", "not_synack", "bad_ack",
}

// String returns the counter name of r ("ok", "bad_cookie", ...).
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}
