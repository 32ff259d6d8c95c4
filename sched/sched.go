package sched

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// Dest is what a scheduler sees of one real server. Weight 0 is quiescent: no new connections.
// The connection counts are kept up to date by the worker that owns the scheduler.
type Dest struct {
	Weight        int32
	ActiveConns   int32
	InactiveConns int32
	Overloaded    bool // above its upper threshold
	// Addr and Port identify the real server. Only mh reads them, in Config.Dests, to place the
	// server in its Maglev table (as ip_vs_mh.c hashes dest->addr and dest->port), so that the
	// table does not depend on the order of the list. A zero Addr stands for the list index.
	Addr header.Addr
	Port uint16
}

// Scheduler picks the destination for a new connection.
type Scheduler interface {
	// Schedule returns the index in dests of the chosen destination, or -1 if none is available.
	// t is the tuple of the connection's first packet, as the client sent it.
	Schedule(t *header.Tuple, dests []Dest) int
}

// Table is what a scheduler builds from one service's configuration: its immutable lookup tables
// (wrr's levels, sh's and dh's buckets, mh's Maglev table), built once per configuration change,
// off the packet path, and shared by every worker. Instance returns one worker's Scheduler over
// them and is cheap: a scheduler whose Schedule only reads (rr, wrr and the hashing and
// least-connection families) returns one value that serves every worker at once, while lblc,
// lblcr and twos return a fresh instance with its own mutable state (address table, random
// source).
type Table interface {
	Instance() Scheduler
}

// shared is the Table of a scheduler whose Schedule writes nothing but atomics: its one instance
// is every worker's.
type shared struct{ Scheduler }

func (s shared) Instance() Scheduler { return s.Scheduler }

// perWorker is the Table of a scheduler with mutable state of its own: each worker's instance is
// a fresh one from make.
type perWorker struct{ make func() Scheduler }

func (t *perWorker) Instance() Scheduler { return t.make() }

// Config is what a scheduler is built from.
type Config struct {
	Dests []Dest // the destinations in configuration order, with their weights
	Flags uint32 // the service's scheduler flags (sh-fallback, sh-port, ...)
	// Position, when set, is the rotating schedulers' (rr, wrr) position. A Table's instances
	// share one position, so that a service rotates once for the whole director, as IPVS's do;
	// Position lets several tables share one too. It is touched once per new connection, never
	// per packet. Nil gives the table a private position.
	Position *atomic.Uint64
	// TableSize is the number of entries of mh's table, a prime (CheckMHSize); 0 is MHDefaultSize.
	// The other schedulers ignore it.
	TableSize int
	// Now, when set, is the clock of the schedulers that age state (lblc, lblcr): monotonic
	// nanoseconds. Nil uses the process's monotonic clock.
	Now func() int64
}

// Scheduler flags, in Config.Flags: IPVS's IP_VS_SVC_F_SCHED1 and IP_VS_SVC_F_SCHED2, which sh and
// mh read as below (ipvsadm -b sh-fallback,sh-port / mh-fallback,mh-port).
const (
	FlagFallback uint32 = 0x8  // sh-fallback, mh-fallback: when the hashed server is unavailable, rehash
	FlagPort     uint32 = 0x10 // sh-port, mh-port: hash the source port (TCP, UDP, SCTP) with the address
)

// clock returns cfg.Now or the process's monotonic clock.
func clock(cfg Config) func() int64 {
	if cfg.Now != nil {
		return cfg.Now
	}
	return monotonic
}

var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// position returns cfg.Position or a private counter.
func position(cfg Config) *atomic.Uint64 {
	if cfg.Position != nil {
		return cfg.Position
	}
	return new(atomic.Uint64)
}

// Factory builds the Table of one service's scheduler.
type Factory func(cfg Config) Table

var registry = map[string]Factory{}

// Register adds a scheduler under name. It panics on a duplicate, which is a programming error.
func Register(name string, f Factory) {
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("sched: %q registered twice", name))
	}
	registry[name] = f
}

// Lookup returns the factory of the named scheduler.
func Lookup(name string) (Factory, bool) {
	f, ok := registry[name]
	return f, ok
}

// consistent are the schedulers whose choice is a function of the configuration and the packet's
// tuple alone: no position, no connection counts, no random source, no key of the process. Every
// director (and every worker) given the same real servers, in the same order, with the same weights
// and flags picks the same one for a flow, which is what lets a flow move between directors
// (sloppy TCP) and what a digest of their tables compares. mh-fallback and sh-fallback keep this as
// long as the directors agree on which servers are available.
var consistent = map[string]bool{"mh": true, "sh": true, "dh": true}

// Consistent reports whether the named scheduler picks the same real server for a tuple on every
// director with the same configuration.
func Consistent(name string) bool { return consistent[name] }

// Names lists the registered schedulers, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
