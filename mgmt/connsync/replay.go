package connsync

// replayWindow is one peer's: the newest epoch seen, the highest sequence number of it and a
// bitmap of the 64 below (bit i: top − i seen), as IPsec's anti-replay window (RFC 4303 §3.4.3).
// A message of an older epoch is a replay of a director's earlier life.
type replayWindow struct {
	epoch, top uint64
	seen       uint64
}

// windowSize is how far behind the newest sequence number a message may arrive.
const windowSize = 64

// check reports whether (epoch, seq) is new; it records nothing (accept does, once the message
// is known good).
func (w *replayWindow) check(epoch, seq uint64) bool {
	switch {
	case epoch != w.epoch:
		return epoch > w.epoch
	case seq > w.top:
		return true
	case w.top-seq >= windowSize:
		return false
	}
	return w.seen&(1<<(w.top-seq)) == 0
}

// accept records (epoch, seq), which check found new.
func (w *replayWindow) accept(epoch, seq uint64) {
	if epoch != w.epoch {
		w.epoch, w.top, w.seen = epoch, seq, 1
		return
	}
	if seq > w.top {
		if d := seq - w.top; d >= windowSize {
			w.seen = 0
		} else {
			w.seen <<= d
		}
		w.top = seq
		w.seen |= 1
		return
	}
	w.seen |= 1 << (w.top - seq)
}
