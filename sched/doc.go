// Package sched holds the schedulers that choose a real server for a new connection, behind one
// Scheduler interface and a registry of names ("rr", "wrr", ...), as IPVS's ip_vs_sched.c does.
//
// A Scheduler instance belongs to one worker and one service: it is built from an immutable list of
// destinations when a configuration is applied, off the fast path, and then called per new
// connection without locks or allocation. Schedule returns an index into that list, or -1 when no
// destination can take the connection (all quiescent or overloaded).
package sched
