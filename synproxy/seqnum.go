package synproxy

// Value is a TCP sequence number, or a TCP timestamp, as in gVisor's seqnum package: a point on a
// circle of 2^32 values, compared and moved with wraparound (RFC 1982 serial-number arithmetic; RFC
// 9293 §3.4 for sequence numbers, RFC 7323 §5.2 for timestamps). Offsets between two Values are Sizes.
type Value uint32

// Size is a distance from one Value to another, modulo 2^32.
type Size uint32

// LessThan reports whether v comes before w on the circle: w is ahead of v by less than 2^31.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v is w or comes before it.
func (v Value) LessThanEq(w Value) bool { return v == w || v.LessThan(w) }

// InRange reports whether a ≤ v < b on the circle, walking forward from a.
func (v Value) InRange(a, b Value) bool { return uint32(v-a) < uint32(b-a) }

// Add returns v moved forward by s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns v moved back by s.
func (v Value) Sub(s Size) Value { return v - Value(s) }

// Size returns the distance from v forward to w: the Size s with v.Add(s) == w.
func (v Value) Size(w Value) Size { return Size(w - v) }
