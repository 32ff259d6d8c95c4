// Package conntrack is the per-worker connection table: a preallocated, pointer-free array of
// entries indexed under both of a connection's tuples (original and reply, as DPVS's conn.h does),
// expiry by a lazy timer wheel, and IPVS's TCP state machine and timeouts.
//
// A Table belongs to one worker and is never touched by another goroutine, so it takes no lock.
// Time is passed in by the caller (monotonic nanoseconds), which makes every behaviour testable
// with a fake clock. The table is generic over the per-connection payload V, which must hold no
// pointers for the garbage collector to ignore the table; NAT rewrite records and SYN-proxy state
// ride in V without this package knowing them.
package conntrack
