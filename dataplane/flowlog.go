package dataplane

import "github.com/xdpvs/xdpvs/header"

// The steering program redirects a packet from a real server only if it is the reply of one of
// the workers' NAT connections (its reply tuple is in the program's nat_flows map); anything else
// from a real server's port (a health check's answer, a client talking to the real server
// directly through the director) stays with the kernel. The pipeline notes each NAT connection
// it opens and closes in its flowLog, in order; the worker hands the log to the steering program
// in batches, before it transmits anything, so that a connection's first packet never leaves
// before its reply tuple is steered.

// flowLogLen is the log's capacity: more than a worker's receive batch of openings (64 per socket,
// the log drained after each), or an expiry round's closings (1,024 entries examined).
const flowLogLen = 2048

type flowOp struct {
	reply header.Tuple
	id    uint32 // the connection, for an opening
	add   bool
}

// flowLog is the pipeline's record of NAT connections opened and closed since the worker last
// drained it.
type flowLog struct {
	ops  [flowLogLen]flowOp
	n    int
	lost uint64 // closings not recorded (the log was full): their tuples stay steered
}

// opened records a NAT connection's reply tuple; false if the log is full (the connection must not
// be opened).
func (l *flowLog) opened(id uint32, reply *header.Tuple) bool {
	if l.n == len(l.ops) {
		return false
	}
	l.ops[l.n] = flowOp{reply: *reply, id: id, add: true}
	l.n++
	return true
}

// closed records that a NAT connection's reply tuple is no longer steered.
func (l *flowLog) closed(reply *header.Tuple) {
	if l.n == len(l.ops) {
		l.lost++
		return
	}
	l.ops[l.n] = flowOp{reply: *reply}
	l.n++
}

// room is how many more operations fit.
func (l *flowLog) room() int { return len(l.ops) - l.n }
