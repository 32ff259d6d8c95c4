package sched

import (
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/xdpvs/xdpvs/header"
)

// levelWRR is wrr as it was first written, with one table entry per level cw = mw, mw-di, ...,
// di: the reference the run-length table must follow choice for choice.
type levelWRR struct {
	pos    atomic.Uint64
	levels []int32
	cum    []uint64
	total  uint64
}

func newLevelWRR(ds []Dest) *levelWRR {
	s := &levelWRR{}
	var mw int32
	var order []int
	for i, d := range ds {
		mw = max(mw, d.Weight)
		if d.Weight > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return ds[order[a]].Weight > ds[order[b]].Weight })
	di, n := gcdWeight(ds), 0
	for cw := mw; cw > 0; cw -= di {
		for n < len(order) && ds[order[n]].Weight >= cw {
			n++
		}
		s.levels = append(s.levels, cw)
		s.total += uint64(n)
		s.cum = append(s.cum, s.total)
	}
	return s
}

func (s *levelWRR) Schedule(_ *header.Tuple, dests []Dest) int {
	if s.total == 0 {
		return -1
	}
	for try := 0; try < len(dests)+1; try++ {
		k := (s.pos.Add(1) - 1) % s.total
		l := sort.Search(len(s.cum), func(i int) bool { return s.cum[i] > k })
		skip := k
		if l > 0 {
			skip -= s.cum[l-1]
		}
		for j := range dests {
			if dests[j].Weight >= s.levels[l] {
				if skip == 0 {
					if !dests[j].Overloaded {
						return j
					}
					break
				}
				skip--
			}
		}
	}
	return -1
}

// TestWRRFollowsLevels: wrr's table of runs chooses as the table of levels does, over two cycles,
// for random weights (with common factors, zeros, repeats and overloaded destinations) and for
// weights far apart.
func TestWRRFollowsLevels(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	cases := [][]int32{{1, 65535}, {65535, 1, 65535}, {0, 0}, {7}, {6, 4, 2}, {300, 200, 100, 0, 50}}
	for range 200 {
		ws := make([]int32, 1+rng.IntN(9))
		f := int32(1 + rng.IntN(4))
		for i := range ws {
			ws[i] = f * rng.Int32N(40)
		}
		cases = append(cases, ws)
	}
	for _, ws := range cases {
		ds := dests(ws...)
		for i := range ds {
			ds[i].Overloaded = rng.IntN(8) == 0
		}
		got, want := newWRR(Config{Dests: ds}), newLevelWRR(ds)
		if got.total != want.total {
			t.Fatalf("weights %v: cycle of %d choices, want %d", ws, got.total, want.total)
		}
		for i := range 2*want.total + 3 {
			if g, w := got.Schedule(nil, ds), want.Schedule(nil, ds); g != w {
				t.Fatalf("weights %v: choice %d = %d, want %d", ws, i, g, w)
			}
		}
	}
}

// TestWRRTableSize: wrr's table grows with the destinations, not with the weights (one entry per
// level was 65,535 entries and 768 KiB for {1, 65535}, for each service on each worker).
func TestWRRTableSize(t *testing.T) {
	s := newWRR(Config{Dests: dests(1, 65535, 65535, 3)})
	if len(s.runs) != 3 || len(s.ends) != 3 {
		t.Fatalf("%d runs, %d ends: want one per distinct weight (3)", len(s.runs), len(s.ends))
	}
	if size := cap(s.runs)*int(unsafe.Sizeof(wrrRun{})) + cap(s.ends)*8; size > 256 {
		t.Fatalf("table of %d bytes", size)
	}
}

// TestTableInstances: every scheduler's instances of one table choose as instances of tables of
// their own would, and may run at once on several workers (with -race: the shared ones write
// nothing but their position).
func TestTableInstances(t *testing.T) {
	seed := testSeed(t)
	for _, name := range allSchedulers {
		rng := rand.New(rand.NewPCG(seed, 11))
		ds := randomDests(rng, 10)
		tuples := randomTuples(rng, 500, 32)
		f, _ := Lookup(name)
		clk := &fakeClock{now: 1e9}
		tab := f(Config{Dests: ds, Flags: FlagFallback, Now: clk.Now})
		if name != "twos" { // its choices are random
			var pa, pb atomic.Uint64
			a, b := tab.Instance(), f(Config{Dests: ds, Flags: FlagFallback, Now: clk.Now, Position: &pa}).Instance()
			c := f(Config{Dests: ds, Flags: FlagFallback, Now: clk.Now, Position: &pb}).Instance()
			for i := range tuples {
				ja := a.Schedule(&tuples[i], ds)
				if jb, jc := b.Schedule(&tuples[i], ds), c.Schedule(&tuples[i], ds); ja != jb || ja != jc {
					t.Fatalf("%s: tuple %d: instance of a shared table chose %d, of their own %d and %d", name, i, ja, jb, jc)
				}
			}
		}
		var wg sync.WaitGroup
		for w := range 4 {
			s := tab.Instance()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range tuples {
					if j := s.Schedule(&tuples[(i+w*97)%len(tuples)], ds); j >= len(ds) {
						t.Errorf("%s: chose %d of %d", name, j, len(ds))
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
