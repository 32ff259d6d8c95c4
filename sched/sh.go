package sched

import "github.com/xdpvs/xdpvs/header"

func init() {
	Register("sh", func(cfg Config) Table { return shared{newSH(cfg)} })
}

// sh is source hashing (ip_vs_sh.c). The 256 buckets are filled in list order: each destination
// takes max(weight, 1) consecutive buckets before the next one takes its turn, cycling through the
// list until every bucket is assigned (so a quiescent destination keeps one bucket per cycle, and a
// weight above 256 leaves no room for the later destinations, as in the kernel). The connection
// goes to bucket hash_32(port + addr_fold, 8) of its source address, where port is the source port
// with FlagPort and 0 otherwise.
//
// If that destination is quiescent or overloaded there is no destination, unless FlagFallback is
// set: then, as ip_vs_sh_get_fallback does, the buckets (offset + ihash + hash) mod 256 are tried for
// offset = 0..255, where ihash is the original bucket, and the first available one wins.
type sh struct {
	buckets [hashTabSize]int32 // -1 when there are no destinations
	flags   uint32
}

func newSH(cfg Config) *sh {
	s := &sh{flags: cfg.Flags}
	j, count := 0, int32(0)
	for i := range s.buckets {
		s.buckets[i] = -1
		if len(cfg.Dests) == 0 {
			continue
		}
		s.buckets[i] = int32(j)
		if count++; count >= cfg.Dests[j].Weight {
			j, count = (j+1)%len(cfg.Dests), 0
		}
	}
	return s
}

// hash32 is the kernel's hash_32: the top bits of val * GOLDEN_RATIO_32.
func hash32(val uint32, bits uint) uint32 { return val * 0x61c88647 >> (32 - bits) }

func (s *sh) Schedule(t *header.Tuple, dests []Dest) int {
	key := addrFold(&t.SrcAddr)
	if s.flags&FlagPort != 0 {
		key += l4Port(t)
	}
	h := hash32(key, hashTabBits)
	j := int(s.buckets[h])
	if j < 0 || j >= len(dests) {
		return -1
	}
	if available(&dests[j]) {
		return j
	}
	if s.flags&FlagFallback == 0 {
		return -1
	}
	for off := range uint32(hashTabSize) {
		roff := (off + h) & hashTabMask
		if j := int(s.buckets[(roff+h)&hashTabMask]); j < len(dests) && available(&dests[j]) {
			return j
		}
	}
	return -1
}
