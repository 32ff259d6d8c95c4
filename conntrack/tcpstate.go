package conntrack

import "time"

// State is a connection's state, with IPVS's TCP states (ip_vs_proto_tcp.c) and one for UDP.
type State uint8

const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	StateUDP
	numStates
)

var stateNames = [numStates]string{"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "ERR!"
}

// Timeouts holds a timeout per state, in nanoseconds.
type Timeouts [numStates]int64

// DefaultTimeouts are IPVS's tcp_timeouts and udp_timeouts.
func DefaultTimeouts() Timeouts {
	s := func(d time.Duration) int64 { return int64(d) }
	return Timeouts{
		StateNone:        s(2 * time.Second),
		StateEstablished: s(15 * time.Minute),
		StateSynSent:     s(2 * time.Minute),
		StateSynRecv:     s(1 * time.Minute),
		StateFinWait:     s(2 * time.Minute),
		StateTimeWait:    s(2 * time.Minute),
		StateClose:       s(10 * time.Second),
		StateCloseWait:   s(1 * time.Minute),
		StateLastAck:     s(30 * time.Second),
		StateListen:      s(2 * time.Minute),
		StateSynAck:      s(2 * time.Minute),
		StateUDP:         s(5 * time.Minute),
	}
}

// Set applies `ipvsadm --set tcp tcpfin udp`: tcp is the ESTABLISHED
// timeout, tcpfin the FIN_WAIT one, udp the UDP one. Zero leaves a value unchanged.
func (t *Timeouts) Set(tcp, tcpfin, udp time.Duration) {
	if tcp > 0 {
		t[StateEstablished] = int64(tcp)
	}
	if tcpfin > 0 {
		t[StateFinWait] = int64(tcpfin)
	}
	if udp > 0 {
		t[StateUDP] = int64(udp)
	}
}

// Packet directions for the TCP state table, as IPVS's tcp_state_off.
const (
	tcpInput     = 0 // client → real server
	tcpOutput    = 4 // real server → client
	tcpInputOnly = 8 // client → real server on a connection whose replies bypass the director (DR, TUN)
)

const (
	sNO, sES, sSS, sSR, sFW = StateNone, StateEstablished, StateSynSent, StateSynRecv, StateFinWait
	sTW, sCL, sCW, sLA, sLI = StateTimeWait, StateClose, StateCloseWait, StateLastAck, StateListen
	sSA                     = StateSynAck
)

// tcpStates is IPVS's tcp_states table: rows syn, fin, ack, rst per direction, columns the current
// state sNO..sSA.
var tcpStates = [12][11]State{
	/* INPUT: sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA */
	/*syn*/ {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
	/*fin*/ {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
	/*ack*/ {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
	/*rst*/ {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
	/* OUTPUT */
	/*syn*/ {sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA},
	/*fin*/ {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
	/*ack*/ {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
	/*rst*/ {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	/* INPUT-ONLY */
	/*syn*/ {sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA},
	/*fin*/ {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
	/*ack*/ {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
	/*rst*/ {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
}

// TCP flag bits as they appear in the TCP header's flags byte.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// NextTCPState returns the state after a segment with the given flags, as IPVS's set_tcp_state:
// RST wins over SYN over FIN over ACK; a segment with none of them changes nothing. dir is the
// packet's direction; inputOnly marks connections whose replies never pass the director.
func NextTCPState(cur State, dir Dir, inputOnly bool, flags uint8) State {
	var row int
	switch {
	case flags&tcpRST != 0:
		row = 3
	case flags&tcpSYN != 0:
		row = 0
	case flags&tcpFIN != 0:
		row = 1
	case flags&tcpACK != 0:
		row = 2
	default:
		return cur
	}
	if cur > sSA {
		return sCL
	}
	off := tcpInput
	switch {
	case dir == DirReply:
		off = tcpOutput
	case inputOnly:
		off = tcpInputOnly
	}
	return tcpStates[off+row][cur]
}
