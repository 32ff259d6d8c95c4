package sched

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Digest is a stable hash of a consistent scheduler's table (Consistent): of the scheduler's name,
// its flags (fallback, port), the real servers it was built from (address, port, weight, in list
// order) and every entry of its lookup table (mh's Maglev table, sh's and dh's 256 buckets). Two
// tables with the same digest make the same choice for every tuple, given the same real servers
// available: directors compare digests to know that a flow moved between them goes to the same
// real server. It depends on nothing of the process (no key, no address in memory), so it is the
// same in every process, on every director, in every version that builds the same table; a
// change of how a table is built changes it.
type Digest [8]byte

func (d Digest) String() string { return fmt.Sprintf("%x", d[:]) }

// digestVersion starts every digest's input, so that a change of its layout changes every digest.
const digestVersion = "xdpvs-sched-digest-1"

// DigestOf returns the digest of the table t that scheduler name built from cfg, or false when t is
// not a consistent scheduler's.
func DigestOf(name string, t Table, cfg Config) (Digest, bool) {
	var entries []int32
	flags := cfg.Flags & (FlagFallback | FlagPort)
	w, _ := t.(shared)
	switch s := w.Scheduler.(type) {
	case *mh:
		entries = s.lookup
	case *sh:
		entries = s.buckets[:]
	case *dh:
		entries, flags = s.buckets[:], 0 // dh reads no flag
	default:
		return Digest{}, false
	}
	h := sha256.New()
	var b [4]byte
	word := func(v uint32) {
		binary.BigEndian.PutUint32(b[:], v)
		h.Write(b[:])
	}
	h.Write([]byte(digestVersion))
	h.Write([]byte(name))
	word(flags)
	word(uint32(len(cfg.Dests)))
	for i := range cfg.Dests {
		d := &cfg.Dests[i]
		h.Write(d.Addr[:])
		word(uint32(d.Port))
		word(uint32(d.Weight))
	}
	word(uint32(len(entries)))
	for _, e := range entries {
		word(uint32(e))
	}
	var d Digest
	copy(d[:], h.Sum(nil))
	return d, true
}
