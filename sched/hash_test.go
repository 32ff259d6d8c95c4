package sched

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

func addr(s string) header.Addr { return header.AddrFromNetip(netip.MustParseAddr(s)) }

// tcp returns the tuple of a TCP connection from src:sport to dst:80.
func tcp(src, dst string, sport uint16) *header.Tuple {
	return &header.Tuple{SrcAddr: addr(src), DstAddr: addr(dst), SrcPort: sport, DstPort: 80, Proto: 6}
}

// TestDH checks dh's buckets, derived by hand: bucket = (addr_fold * 2654435761) mod 256, which only
// the low bytes decide (2654435761 = 0x9e3779b1), and bucket i holds destination i mod 3.
func TestDH(t *testing.T) {
	three := []Dest{dst(1, 0, 0), dst(5, 0, 0), dst(1, 0, 0)}
	quiet := []Dest{dst(1, 0, 0), dst(5, 0, 0), dst(0, 0, 0)}
	busy := []Dest{dst(1, 0, 0), overloaded(dst(5, 0, 0)), dst(1, 0, 0)}
	for _, tc := range []struct {
		name string
		ds   []Dest
		dst  string
		want int
	}{
		{"v4_1", three, "10.0.0.1", 0},       // 0x01*0xb1 = 0xb1 = 177; 177 mod 3 = 0
		{"v4_2", three, "10.0.0.2", 2},       // 0x02*0xb1 = 0x162 -> 0x62 = 98; 98 mod 3 = 2
		{"v4_3", three, "10.0.0.3", 1},       // 0x03*0xb1 = 0x213 -> 0x13 = 19; 19 mod 3 = 1
		{"v4_4", three, "10.0.0.4", 1},       // 0x04*0xb1 = 0x2c4 -> 0xc4 = 196; 196 mod 3 = 1
		{"v6_fold", three, "2001:db8::1", 2}, // 0x20010db8^0^0^1 = 0x20010db9: 0xb9*0xb1 mod 256 = 233; 233 mod 3 = 2
		{"quiescent_no_fallback", quiet, "10.0.0.2", -1},
		{"weights_ignored", quiet, "10.0.0.3", 1},
		{"overloaded", busy, "10.0.0.3", -1},
		{"none", nil, "10.0.0.3", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScheduler(t, "dh", Config{Dests: tc.ds})
			// The source varies: only the destination address counts.
			for _, src := range []string{"192.0.2.1", "198.51.100.7"} {
				if got := s.Schedule(tcp(src, tc.dst, 1000), tc.ds); got != tc.want {
					t.Fatalf("Schedule(%s -> %s) = %d, want %d", src, tc.dst, got, tc.want)
				}
			}
		})
	}
}

// TestSH checks sh's buckets and flags, derived by hand. Weights A=2, B=1, C=0 fill the buckets
// A A B C A A B C ... (a destination takes max(weight, 1) buckets in a row), so bucket b holds
// A for b mod 4 in {0, 1}, B for 2, C for 3. The bucket of key k is (k * 0x61c88647 mod 2^32) >> 24:
// for 10.0.0.x, k = 0x0a00000x and 0x0a000000*0x61c88647 = 0xc6000000 (mod 2^32), so
//
//	10.0.0.1: 0x61c88647 + 0xc6000000 = 0x27c88647 -> 39  (mod 4 = 3: C)
//	10.0.0.2: 0xc3910c8e + 0xc6000000 = 0x89910c8e -> 137 (mod 4 = 1: A)
//	10.0.0.3: 0x255992d5 + 0xc6000000 = 0xeb5992d5 -> 235 (mod 4 = 3: C)
//
// The fallback tries bucket (offset + 2*ihash) mod 256 for offset 0, 1, ...: from 39 it tries 78
// (B), from 137 it tries 18 (B). With sh-port the key is addr_fold + source port: 10.0.0.1 port 1
// hashes as 10.0.0.2.
func TestSH(t *testing.T) {
	ds := []Dest{dst(2, 0, 0), dst(1, 0, 0), dst(0, 0, 0)}
	aBusy := []Dest{overloaded(dst(2, 0, 0)), dst(1, 0, 0), dst(0, 0, 0)}
	icmp := &header.Tuple{SrcAddr: addr("10.0.0.1"), SrcPort: 1, DstPort: 1, Proto: 1}
	udp := &header.Tuple{SrcAddr: addr("10.0.0.1"), SrcPort: 1, DstPort: 53, Proto: 17}
	for _, tc := range []struct {
		name  string
		ds    []Dest
		flags uint32
		tu    *header.Tuple
		want  int
	}{
		{"bucket_A", ds, 0, tcp("10.0.0.2", "203.0.113.1", 1), 0},
		{"bucket_C_quiescent", ds, 0, tcp("10.0.0.1", "203.0.113.1", 1), -1},
		{"bucket_C_fallback", ds, FlagFallback, tcp("10.0.0.1", "203.0.113.1", 1), 1},
		{"bucket_C_again", ds, 0, tcp("10.0.0.3", "203.0.113.1", 1), -1},
		{"fallback_keeps_available", ds, FlagFallback, tcp("10.0.0.2", "203.0.113.1", 1), 0},
		{"overloaded", aBusy, 0, tcp("10.0.0.2", "203.0.113.1", 1), -1},
		{"overloaded_fallback", aBusy, FlagFallback, tcp("10.0.0.2", "203.0.113.1", 1), 1},
		{"port_tcp", ds, FlagPort, tcp("10.0.0.1", "203.0.113.1", 1), 0},
		{"port_udp", ds, FlagPort, udp, 0},
		{"port_icmp_ignored", ds, FlagPort, icmp, -1},
		{"port_flag_off", ds, 0, udp, -1},
		{"none", nil, FlagFallback, tcp("10.0.0.2", "203.0.113.1", 1), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScheduler(t, "sh", Config{Dests: tc.ds, Flags: tc.flags})
			if got := s.Schedule(tc.tu, tc.ds); got != tc.want {
				t.Fatalf("Schedule = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSHBuckets checks the bucket shares: weights 5, 3, 2 fill cycles of 10 buckets; 25 cycles
// take 250 and the last 6 go to A (5) and B (1): A 130, B 76, C 50.
func TestSHBuckets(t *testing.T) {
	s := newSH(Config{Dests: []Dest{dst(5, 0, 0), dst(3, 0, 0), dst(2, 0, 0)}})
	var count [3]int
	for _, j := range s.buckets {
		count[j]++
	}
	if count != [3]int{130, 76, 50} {
		t.Fatalf("bucket counts %v, want [130 76 50]", count)
	}
	if s.buckets[0] != 0 || s.buckets[4] != 0 || s.buckets[5] != 1 || s.buckets[8] != 2 || s.buckets[10] != 0 {
		t.Fatalf("buckets not in runs of weight: %v", s.buckets[:12])
	}
}

// TestHSipHashPins pins the value the mh tests below rely on (computed with an independent
// SipHash-1-3: h1 of 10.0.0.1 + port 80). header's tests check the hash itself.
func TestHSipHashPins(t *testing.T) {
	if got := header.HSipHash32(mhKey1, mhKey1, 0x0a000001+80); got != 1134300350 {
		t.Fatalf("h1(10.0.0.1:80) = %d, want 1134300350", got)
	}
}

// mhDests returns destinations 10.0.0.1:80, 10.0.0.2:80, ... with the given weights.
func mhDests(weights ...int32) []Dest {
	ds := make([]Dest, len(weights))
	for i, w := range weights {
		ds[i] = Dest{Weight: w, Addr: addr(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String()), Port: 80}
	}
	return ds
}

// TestMHTable checks a Maglev table of 13 entries built by hand. With h1, h2 the kernel's hsiphash
// (values from an independent SipHash-1-3) of addr_fold + port:
//
//	A 10.0.0.1:80  offset h1 mod 13 = 1  skip h2 mod 12 + 1 = 4  permutation 1 5 9 0 4 8 12 3 7 11 2 6 10
//	B 10.0.0.2:80  offset 9  skip 4                              permutation 9 0 4 8 12 3 7 11 2 6 10 1 5
//	C 10.0.0.3:80  offset 0  skip 9                              permutation 0 9 5 1 10 6 2 11 7 3 12 8 4
//
// Weights 1, 1, 1 (one turn each per round), each taking its next free position:
//
//	round 1: A 1, B 9, C 0;  round 2: A 5, B 4, C 10;  round 3: A 8, B 12, C 6;
//	round 4: A 3, B 7, C 2;  round 5: A 11 (full).
//
// Weights 2, 1, 1 (A takes two positions in a row):
//
//	round 1: A 1 5, B 9, C 0;  round 2: A 4 8, B 12, C 10;  round 3: A 3 7, B 11, C 6;  round 4: A 2.
//
// Weights 100, 1 with IP_VS_MH_TAB_BITS 4: the turns are shifted right by fls(100) - 4 = 3, so A
// takes 12 positions and B (1>>3 = 0, raised to 1) one: the first round fills the table. Without the
// shift A's 100 turns would fill it alone.
func TestMHTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ds   []Dest
		want []int32
	}{
		{"equal", mhDests(1, 1, 1), []int32{2, 0, 2, 0, 1, 0, 2, 1, 0, 1, 2, 0, 1}},
		{"weighted", mhDests(2, 1, 1), []int32{2, 0, 0, 0, 0, 0, 2, 0, 0, 1, 2, 1, 1}},
		{"gcd", mhDests(4, 2, 2), []int32{2, 0, 0, 0, 0, 0, 2, 0, 0, 1, 2, 1, 1}},
		// A quiescent destination takes no position: B and C share the table.
		{"quiescent", mhDests(0, 1, 1), nil},
		{"none", mhDests(0, 0), []int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMH(Config{Dests: tc.ds}, 13, 6)
			if tc.want == nil {
				for i, j := range s.lookup {
					if j != 1 && j != 2 {
						t.Fatalf("entry %d = %d: %v", i, j, s.lookup)
					}
				}
				return
			}
			if !slices.Equal(s.lookup, tc.want) {
				t.Fatalf("table %v, want %v", s.lookup, tc.want)
			}
		})
	}
	t.Run("shift", func(t *testing.T) {
		s := newMH(Config{Dests: mhDests(100, 1)}, 13, 4)
		if c := counts(s.lookup, 2); c != [8]int{12, 1} {
			t.Fatalf("counts %v, want A 12, B 1", c)
		}
	})
}

func counts(lookup []int32, n int) (c [8]int) {
	for _, j := range lookup {
		if j >= 0 && int(j) < len(c) {
			c[j]++
		}
	}
	return c
}

// TestMHSchedule looks clients up in the "equal" table of TestMHTable
// (C A C A B A C B A B C A B). Their entries h1(addr_fold [+ port]) mod 13, from an independent
// SipHash-1-3, and the entries the fallback tries after them:
//
//	192.168.1.1  9 (B)            with port 1234: 4 (B)
//	192.168.1.2  1 (A), then 2 (C)
//	192.168.1.3  2 (C)            with port 1234: 12 (B)
//	192.168.1.4  5 (A), then 8 (A), 10 (C)   with port 1234: 11 (A)
//	192.168.1.5  10 (C)
func TestMHSchedule(t *testing.T) {
	ds := mhDests(1, 1, 1)
	aBusy := mhDests(1, 1, 1)
	aBusy[0].Overloaded = true
	for _, tc := range []struct {
		name  string
		ds    []Dest
		flags uint32
		src   string
		want  int
	}{
		{"1", ds, 0, "192.168.1.1", 1},
		{"2", ds, 0, "192.168.1.2", 0},
		{"3", ds, 0, "192.168.1.3", 2},
		{"4", ds, 0, "192.168.1.4", 0},
		{"5", ds, 0, "192.168.1.5", 2},
		{"2_unavailable", aBusy, 0, "192.168.1.2", -1},
		{"2_fallback", aBusy, FlagFallback, "192.168.1.2", 2},
		{"4_fallback_skips_A_twice", aBusy, FlagFallback, "192.168.1.4", 2},
		{"1_fallback_unused", aBusy, FlagFallback, "192.168.1.1", 1},
		{"1_port", ds, FlagPort, "192.168.1.1", 1},
		{"3_port", ds, FlagPort, "192.168.1.3", 1},
		{"4_port", ds, FlagPort, "192.168.1.4", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMH(Config{Dests: tc.ds, Flags: tc.flags}, 13, 6)
			if got := s.Schedule(tcp(tc.src, "203.0.113.1", 1234), tc.ds); got != tc.want {
				t.Fatalf("Schedule = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestMHShares checks that the kernel-sized table (4093 entries) is shared in proportion to the
// weights. Turns are weight/gcd, so every round claims 1+2+3+4 = 10 entries in the ratio of the
// weights: 409 rounds take 4090, and the last 3 go to A (1) and B (2): 410, 820, 1227, 1636.
func TestMHShares(t *testing.T) {
	s := mustScheduler(t, "mh", Config{Dests: mhDests(1, 2, 3, 4)}).(*mh)
	if len(s.lookup) != 4093 {
		t.Fatalf("table size %d, want the kernel's default 4093", len(s.lookup))
	}
	if c := counts(s.lookup, 4); c != [8]int{410, 820, 1227, 1636} {
		t.Fatalf("entries per destination %v, want [410 820 1227 1636]", c[:4])
	}
}

// TestMHDisruption checks Maglev's minimal disruption: removing one of n servers, or adding an
// (n+1)th, should move little more than the 1/n (1/(n+1)) of the entries that must move. The excess
// grows as M/n shrinks: measured (the hashes are fixed, so these are exact), with the kernel's
// default of 4093 entries, 1.05x the ideal for 5 servers, 1.1x for 10, 1.9x for 40 and 2.2x for 50;
// with 65521 entries, 1.2x for 50 and 2.6x for 200. The bounds leave a margin over those.
func TestMHDisruption(t *testing.T) {
	for _, tc := range []struct {
		n, size  int
		maxRatio float64 // moved / ideal
	}{
		{5, 4093, 1.15}, {10, 4093, 1.2}, {40, 4093, 2.1}, {50, 4093, 2.5}, {50, 65521, 1.3}, {200, 65521, 2.9},
	} {
		n := tc.n
		ws := make([]int32, n+1)
		for i := range ws {
			ws[i] = 1
		}
		all := make([]Dest, n+1)
		for i := range all {
			all[i] = Dest{Weight: 1, Addr: header.AddrFrom4([]byte{10, 1, byte(i >> 8), byte(i)}), Port: 443}
		}
		byAddr := func(ds []Dest) []header.Addr {
			s := newMH(Config{Dests: ds}, tc.size, 6)
			out := make([]header.Addr, len(s.lookup))
			for i, j := range s.lookup {
				out[i] = ds[j].Addr
			}
			return out
		}
		changed := func(a, b []header.Addr) float64 {
			c := 0
			for i := range a {
				if a[i] != b[i] {
					c++
				}
			}
			return float64(c) / float64(len(a))
		}
		base := byAddr(all[:n])
		m := n / 2 // remove the middle server
		rm := changed(base, byAddr(append(append([]Dest{}, all[:m]...), all[m+1:n]...)))
		add := changed(base, byAddr(all))
		t.Logf("n=%d M=%d: removing one moves %.4f of the entries (ideal %.4f), adding one %.4f (ideal %.4f)",
			n, tc.size, rm, 1/float64(n), add, 1/float64(n+1))
		if rm*float64(n) > tc.maxRatio || add*float64(n+1) > tc.maxRatio {
			t.Errorf("n=%d M=%d: moved %.2fx and %.2fx the ideal, want at most %.2fx", n, tc.size, rm*float64(n), add*float64(n+1), tc.maxRatio)
		}
	}
}

// TestHashDeterminism checks that dh, sh and mh choose the same destination for the same tuple, in
// one instance and across instances (workers), and spread tuples over all the destinations.
func TestHashDeterminism(t *testing.T) {
	ds := mhDests(3, 1, 2, 5, 1, 1, 4)
	rng := rand.New(rand.NewPCG(3, 4))
	tuples := make([]header.Tuple, 2000)
	for i := range tuples {
		var a4 [4]byte
		binary.BigEndian.PutUint32(a4[:], rng.Uint32())
		src := header.AddrFrom4(a4[:])
		if i%2 == 1 {
			var a16 [16]byte
			binary.LittleEndian.PutUint64(a16[:], rng.Uint64())
			binary.LittleEndian.PutUint64(a16[8:], rng.Uint64())
			src = header.AddrFrom16(a16[:])
		}
		tuples[i] = header.Tuple{SrcAddr: src, DstAddr: src, SrcPort: uint16(rng.Uint32()), DstPort: 80, Proto: 6}
	}
	for _, name := range []string{"dh", "sh", "mh"} {
		for _, flags := range []uint32{0, FlagPort, FlagFallback | FlagPort} {
			a, b := mustScheduler(t, name, Config{Dests: ds, Flags: flags}), mustScheduler(t, name, Config{Dests: ds, Flags: flags})
			seen := map[int]int{}
			for i := range tuples {
				tu := tuples[i]
				j := a.Schedule(&tu, ds)
				if j2, j3 := a.Schedule(&tu, ds), b.Schedule(&tu, ds); j2 != j || j3 != j {
					t.Fatalf("%s flags %#x: tuple %d chose %d, then %d, and %d in another instance", name, flags, i, j, j2, j3)
				}
				seen[j]++
			}
			if len(seen) != len(ds) {
				t.Errorf("%s flags %#x: %d tuples reached only %v", name, flags, len(tuples), seen)
			}
		}
	}
}

// TestHashFallback checks the fallback flag on sh and mh: with one server overloaded, the tuples
// hashed to it get -1 without the flag and another available server with it, and no other tuple
// moves.
func TestHashFallback(t *testing.T) {
	ds := mhDests(1, 2, 1, 1)
	busy := mhDests(1, 2, 1, 1)
	busy[1].Overloaded = true
	for _, name := range []string{"sh", "mh"} {
		plain, fb := mustScheduler(t, name, Config{Dests: ds}), mustScheduler(t, name, Config{Dests: ds, Flags: FlagFallback})
		moved := 0
		for i := range 5000 {
			tu := tcp(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}).String(), "203.0.113.1", 1)
			before := plain.Schedule(tu, ds)
			noFB, withFB := plain.Schedule(tu, busy), fb.Schedule(tu, busy)
			switch {
			case before != 1 && (noFB != before || withFB != before):
				t.Fatalf("%s: tuple %d moved from %d to %d / %d", name, i, before, noFB, withFB)
			case before == 1 && noFB != -1:
				t.Fatalf("%s: tuple %d of the overloaded server chose %d without fallback", name, i, noFB)
			case before == 1 && (withFB < 0 || withFB == 1):
				t.Fatalf("%s: tuple %d of the overloaded server chose %d with fallback", name, i, withFB)
			case before == 1:
				moved++
			}
		}
		if moved == 0 {
			t.Fatalf("%s: no tuple hashed to the overloaded server", name)
		}
	}
}
