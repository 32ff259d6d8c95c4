package sched

import (
	"fmt"
	"math/bits"

	"github.com/xdpvs/xdpvs/header"
)

func init() {
	Register("mh", func(cfg Config) Table {
		size := cfg.TableSize
		if size == 0 {
			size = MHDefaultSize
		}
		return shared{newMH(cfg, size, bits.Len(uint(size))/2)}
	})
}

// MHDefaultSize is the number of entries of mh's table unless Config.TableSize says otherwise:
// the kernel's default (CONFIG_IP_VS_MH_TAB_INDEX 12). MHMinSize and MHMaxSize bound a size given,
// the kernel's smallest and largest.
const (
	MHDefaultSize = 4093
	MHMinSize     = 251
	MHMaxSize     = 131071
)

// CheckMHSize says whether n entries make an mh table: a prime from MHMinSize to MHMaxSize. (A
// prime size makes every skip a generator of the positions, so each permutation visits them all.)
// The Maglev paper's rule is to keep it far above 100 times the number of real servers, for an
// even spread; the kernel's sizes are the primes next below powers of two.
func CheckMHSize(n int) error {
	if n < MHMinSize || n > MHMaxSize || !prime(n) {
		return fmt.Errorf("mh table size %d: a prime from %d to %d (such as 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)", n, MHMinSize, MHMaxSize)
	}
	return nil
}

func prime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// The kernel's table sizes are primes[CONFIG_IP_VS_MH_TAB_INDEX-8] of 251, 509, ..., 131071 for an
// index of 8..17, each just below 2^index, and IP_VS_MH_TAB_BITS = index/2 bounds the turns of a
// destination; a size given here gets the bits of the index it would have, bits.Len(size)/2.

// The keys of the kernel's two hsiphash instances (generate_hash_secret): fixed, so that every
// director, and every worker, builds the same table from the same destinations.
const (
	mhKey1 = 2654435761
	mhKey2 = 2654446892
)

// mh is Maglev hashing (ip_vs_mh.c; Eisenbud et al., NSDI 2016, section 3.4). Each destination
// with a weight gets a permutation of the table positions, from offset = h1(addr, port) mod M and
// skip = h2(addr, port) mod (M-1) + 1, and the destinations take turns, in list order, claiming
// their next free position until the table is full. A destination's turns per round are its weight
// divided by the gcd of the weights, shifted right so that the largest fits in IP_VS_MH_TAB_BITS
// bits (at least 1 for a non-zero weight); a quiescent destination gets no position.
//
// The connection goes to entry h1(port + addr_fold) mod M of its source address, port being the
// source port with FlagPort and 0 otherwise. If that destination is quiescent or overloaded there is
// no destination, unless FlagFallback is set: then, as ip_vs_mh_get_fallback does, the entries
// h1(roffset + port + addr_fold) mod M are tried for roffset = ihash, ihash+1, ... (mod M).
//
// h1 and h2 are the kernel's hsiphash with its fixed keys. On 64-bit kernels hsiphash is SipHash-1-3
// with a 128-bit key, computed here bit for bit, so the table and the choices are those of a 64-bit
// Linux director with the same destinations, in the same order, with the same weights.
type mh struct {
	lookup []int32 // destination of each entry; -1 when no destination has a weight
	flags  uint32
}

// mhDest is ip_vs_mh_dest_setup.
type mhDest struct {
	perm, skip uint32
	turns      int32
}

// newMH builds the table of size entries (a prime); tabBits is IP_VS_MH_TAB_BITS.
func newMH(cfg Config, size, tabBits int) *mh {
	s := &mh{lookup: make([]int32, size), flags: cfg.Flags}
	for i := range s.lookup {
		s.lookup[i] = -1
	}
	// ip_vs_mh_gcd_weight and ip_vs_mh_shift_weight.
	g, mw := int32(0), int32(0)
	for _, d := range cfg.Dests {
		if d.Weight > 0 {
			g = gcd(g, d.Weight)
		}
		mw = max(mw, d.Weight)
	}
	if g < 1 || len(cfg.Dests) > size {
		return s
	}
	rshift := max(bits.Len32(uint32(mw/g))-tabBits, 0)
	// ip_vs_mh_permutate.
	ds := make([]mhDest, len(cfg.Dests))
	for i := range cfg.Dests {
		d := &cfg.Dests[i]
		fold, port := mhDestKey(cfg.Dests, i)
		ds[i].perm = header.HSipHash32(mhKey1, mhKey1, port+fold) % uint32(size)
		ds[i].skip = header.HSipHash32(mhKey2, mhKey2, port+fold)%uint32(size-1) + 1
		if w := max(d.Weight, 0); w > 0 {
			ds[i].turns = max((w/g)>>rshift, 1)
		}
	}
	// ip_vs_mh_populate: rounds over the list; a destination claims turns positions in a row.
	taken := make([]uint64, (size+63)/64)
	for n := 0; n < size; {
		for i := 0; i < len(ds) && n < size; i++ {
			for t := int32(0); t < ds[i].turns && n < size; t++ {
				c := ds[i].perm
				for taken[c/64]&(1<<(c%64)) != 0 {
					if c += ds[i].skip; c >= uint32(size) {
						c -= uint32(size)
					}
				}
				ds[i].perm = c
				taken[c/64] |= 1 << (c % 64)
				s.lookup[c] = int32(i)
				n++
			}
		}
	}
	return s
}

// mhDestKey returns the addr_fold and port that place destination i. A destination without an
// address (zero Addr) is placed by its list index instead.
func mhDestKey(dests []Dest, i int) (fold, port uint32) {
	d := &dests[i]
	if d.Addr == (header.Addr{}) {
		return uint32(i) + 1, uint32(d.Port)
	}
	return addrFold(&d.Addr), uint32(d.Port)
}

func (s *mh) Schedule(t *header.Tuple, dests []Dest) int {
	key := addrFold(&t.SrcAddr)
	if s.flags&FlagPort != 0 {
		key += l4Port(t)
	}
	m := uint32(len(s.lookup))
	ihash := header.HSipHash32(mhKey1, mhKey1, key) % m
	j := int(s.lookup[ihash])
	if j < 0 || j >= len(dests) {
		return -1
	}
	if available(&dests[j]) {
		return j
	}
	if s.flags&FlagFallback == 0 {
		return -1
	}
	for off := range m {
		roff := (off + ihash) % m
		if j := int(s.lookup[header.HSipHash32(mhKey1, mhKey1, roff+key)%m]); j < len(dests) && available(&dests[j]) {
			return j
		}
	}
	return -1
}
