package sched

import (
	"slices"
	"testing"
)

// dst is a destination with a weight and active and inactive connection counts.
func dst(w, active, inactive int32) Dest {
	return Dest{Weight: w, ActiveConns: active, InactiveConns: inactive}
}

func overloaded(d Dest) Dest { d.Overloaded = true; return d }

func mustScheduler(tb testing.TB, name string, cfg Config) Scheduler {
	tb.Helper()
	f, ok := Lookup(name)
	if !ok {
		tb.Fatalf("%s not registered", name)
	}
	return f(cfg).Instance()
}

// TestLeastConnChoices checks single choices against the kernel loops, derived by hand. Overhead is
// active*256 + inactive (ip_vs_dest_conn_overhead).
func TestLeastConnChoices(t *testing.T) {
	for _, tc := range []struct {
		name, sched string
		ds          []Dest
		want        int
	}{
		// lc: overheads 256, 300, 255: the least wins whatever the weights.
		{"lc_inactive_counts", "lc", []Dest{dst(9, 1, 0), dst(1, 0, 300), dst(1, 0, 255)}, 2},
		{"lc_tie_first", "lc", []Dest{dst(1, 0, 5), dst(5, 0, 5)}, 0},
		{"lc_quiescent", "lc", []Dest{dst(0, 0, 0), dst(1, 3, 0)}, 1},
		{"lc_overloaded", "lc", []Dest{overloaded(dst(1, 0, 0)), dst(1, 3, 0)}, 1},
		{"lc_none", "lc", []Dest{dst(0, 0, 0), overloaded(dst(1, 0, 0))}, -1},
		// wlc 2,4 with overheads 256, 512: 256*4 > 512*2 is false (1024 = 1024): the first keeps it.
		{"wlc_tie_first", "wlc", []Dest{dst(2, 1, 0), dst(4, 2, 0)}, 0},
		// ... and one inactive more on A tips it: 257*4 = 1028 > 512*2.
		{"wlc_tie_broken_by_inactive", "wlc", []Dest{dst(2, 1, 1), dst(4, 2, 0)}, 1},
		// A quiescent destination with no connections cannot win: 0 > 0*w never holds.
		{"wlc_quiescent_idle", "wlc", []Dest{dst(1, 10, 0), dst(0, 0, 0)}, 0},
		// The first stage skips weight 0, the second overloaded ones only.
		{"wlc_first_available", "wlc", []Dest{dst(0, 0, 0), overloaded(dst(5, 0, 0)), dst(1, 5, 0), dst(1, 6, 0)}, 2},
		{"wlc_none", "wlc", []Dest{dst(0, 0, 0)}, -1},
		// sed ignores inactive connections: (0+1)*... A 1/1, B (1+1)/3: 1*3 > 2*1, B wins.
		{"sed_weight", "sed", []Dest{dst(1, 0, 1000), dst(3, 1, 0)}, 1},
		// wlc on the same: A 1000/1, B 256/3: 1000*3 > 256*1, B wins too; sed with B at 2
		// active: (2+1)*1 = 3 > 1*3 is false, A keeps it.
		{"sed_tie_first", "sed", []Dest{dst(1, 0, 1000), dst(3, 2, 0)}, 0},
		// nq: the first idle available destination wins outright, even with a low weight.
		{"nq_idle_first", "nq", []Dest{dst(10, 1, 0), dst(1, 0, 50), dst(5, 0, 0)}, 1},
		{"nq_idle_quiescent_skipped", "nq", []Dest{dst(10, 1, 0), dst(0, 0, 0)}, 0},
		{"nq_idle_overloaded_skipped", "nq", []Dest{dst(10, 4, 0), overloaded(dst(1, 0, 0)), dst(1, 1, 0)}, 0},
		// nq with none idle is sed: A (4+1)/10, B (1+1)/1: 5*1 > 2*10 false, A.
		{"nq_sed", "nq", []Dest{dst(10, 4, 0), dst(1, 1, 0)}, 0},
		// fo: the highest weight, the first of equals; connections ignored.
		{"fo_highest", "fo", []Dest{dst(1, 0, 0), dst(3, 100, 0), dst(3, 0, 0), dst(2, 0, 0)}, 1},
		{"fo_overloaded", "fo", []Dest{dst(1, 0, 0), overloaded(dst(3, 0, 0)), dst(3, 0, 0)}, 2},
		{"fo_none", "fo", []Dest{dst(0, 0, 0)}, -1},
		// ovf: skip active > weight; active == weight still takes one.
		{"ovf_at_weight", "ovf", []Dest{dst(3, 0, 0), dst(5, 6, 0), dst(5, 5, 0)}, 2},
		{"ovf_all_over", "ovf", []Dest{dst(1, 2, 0), dst(2, 3, 0)}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScheduler(t, tc.sched, Config{Dests: tc.ds})
			if got := s.Schedule(nil, tc.ds); got != tc.want {
				t.Fatalf("Schedule = %d, want %d", got, tc.want)
			}
		})
	}
}

// replay schedules n connections, each one adding an active connection to its destination.
func replay(tb testing.TB, name string, ds []Dest, n int) []int {
	tb.Helper()
	s := mustScheduler(tb, name, Config{Dests: ds})
	out := make([]int, n)
	for i := range out {
		out[i] = s.Schedule(nil, ds)
		if out[i] >= 0 {
			ds[out[i]].ActiveConns++
		}
	}
	return out
}

// TestLeastConnReplay replays sequences of new connections (no connection ends) from empty
// destinations of weights A=3, B=2, C=1, as derived by hand from the kernel loops.
func TestLeastConnReplay(t *testing.T) {
	for _, tc := range []struct {
		name, sched string
		ds          []Dest
		want        []int
	}{
		// lc: overheads equal in turn, the first wins each tie.
		{"lc", "lc", []Dest{dst(3, 0, 0), dst(2, 0, 0), dst(1, 0, 0)}, []int{0, 1, 2, 0, 1, 2}},
		// wlc, (loh*w(d) > doh*w(least)), overheads in units of 256:
		//  1: all 0            -> A          6: A 2/3, B 2/2: 2*2>2*3 no; C 1/1: 2>3 no -> A
		//  2: A 1/3, B 0: 1*2>0 -> B, C 0*1>0*2 no -> B
		//  3: A 1/3, B 1/2: 2>3 no; C 0: 1*1>0 -> C
		//  4: A 1/3, B 1/2 no; C 1/1: 1>3 no -> A
		//  5: A 2/3, B 1/2: 4>3 -> B; C 1/1 vs B: 1*1>1*2 no -> B
		//  7: A 3/3, B 2/2: 3*2>2*3 no (tie); C 1/1: 3*1>1*3 no (tie) -> A
		//  8: A 4/3, B 2/2: 8>6 -> B; C 1/1 vs B 2/2: 2*1>1*2 no -> B
		//  9: A 4/3, B 3/2: 8>9 no; C 1/1: 4>3 -> C
		// 10: A 4/3, B 3/2: no; C 2/1: 4>6 no -> A
		{"wlc", "wlc", []Dest{dst(3, 0, 0), dst(2, 0, 0), dst(1, 0, 0)}, []int{0, 1, 2, 0, 1, 0, 0, 1, 2, 0}},
		// sed, overhead active+1:
		//  1: A 1/3; B 1*2>1*3 no; C 1>3 no -> A     6: A 4/3, B 3/2: 8>9 no; C 1/1: 4>3 -> C
		//  2: A 2/3; B 1/2: 4>3 -> B; C 1/1: 1*1>1*2 no -> B
		//  3: A 2/3; B 2/2: 4>6 no; C 1/1: 2>3 no -> A
		//  4: A 3/3; B 2/2: 6>6 no; C 1/1: 3>3 no -> A (ties keep A)
		//  5: A 4/3; B 2/2: 8>6 -> B; C 1/1: 2*1>1*2 no -> B
		//  7: A 4/3; B 3/2 no; C 2/1: 4>6 no -> A
		//  8: A 5/3; B 3/2: 10>9 -> B; C 2/1: 3*1>2*2 no -> B
		//  9: A 5/3; B 4/2: 10>12 no; C 2/1: 5>6 no -> A
		// 10: A 6/3; B 4/2: 12>12 no; C 2/1: 6>6 no -> A
		{"sed", "sed", []Dest{dst(3, 0, 0), dst(2, 0, 0), dst(1, 0, 0)}, []int{0, 1, 0, 0, 1, 2, 0, 1, 0, 0}},
		// nq: each idle server first (A, B, C), then sed from A=1, B=1, C=1:
		//  4: A 2/3; B 2/2: 4>6 no; C 2/1: 2>6 no -> A
		//  5: A 3/3; B 2/2: 6>6 no; C: 3>6 no -> A
		//  6: A 4/3; B 2/2: 8>6 -> B; C 2/1: 2*1>2*2 no -> B
		//  7: A 4/3; B 3/2: 8>9 no; C 2/1: 4>6 no -> A
		//  8: A 5/3; B 3/2: 10>9 -> B; C 2/1: 3>4 no -> B
		{"nq", "nq", []Dest{dst(3, 0, 0), dst(2, 0, 0), dst(1, 0, 0)}, []int{0, 1, 2, 0, 0, 1, 0, 1}},
		// ovf 2,1: A takes connections while active <= 2, then B while active <= 1.
		{"ovf", "ovf", []Dest{dst(2, 0, 0), dst(1, 0, 0)}, []int{0, 0, 0, 1, 1, -1}},
		// ovf prefers the highest weight wherever it is in the list.
		{"ovf_order", "ovf", []Dest{dst(1, 0, 0), dst(2, 0, 0)}, []int{1, 1, 1, 0, 0, -1}},
		// fo never moves while the highest weight is available.
		{"fo", "fo", []Dest{dst(1, 0, 0), dst(2, 0, 0)}, []int{1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replay(t, tc.sched, tc.ds, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("sequence %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTwosPick checks twos given its two random numbers. Weights 1, 2, 3: the draws are r mod 7,
// and a draw r goes to the first destination whose running sum (1, 3, 6) reaches r.
func TestTwosPick(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ds     []Dest
		r1, r2 uint32
		want   int
	}{
		// r 0 and 1 both reach A.
		{"both_first", []Dest{dst(1, 5, 0), dst(2, 0, 0), dst(3, 0, 0)}, 0, 1, 0},
		// r1 0 -> A (overhead 0), r2 6 -> C (256): 3*0 > 1*256 false, A.
		{"first_less_loaded", []Dest{dst(1, 0, 0), dst(2, 0, 0), dst(3, 1, 0)}, 0, 6, 0},
		// r1 3 -> B (512, w 2), r2 4 -> C (512, w 3): 3*512 > 2*512, C.
		{"second_less_loaded", []Dest{dst(1, 0, 0), dst(2, 2, 0), dst(3, 2, 0)}, 3, 4, 2},
		// 10 mod 7 = 3 -> B; 11 mod 7 = 4 -> C.
		{"modulo", []Dest{dst(1, 0, 0), dst(2, 2, 0), dst(3, 2, 0)}, 10, 11, 2},
		// Equal load per weight: the first draw keeps it. B 512/2, C 768/3: 3*512 > 2*768 false.
		{"tie_first_draw", []Dest{dst(1, 0, 0), dst(2, 2, 0), dst(3, 3, 0)}, 3, 4, 1},
		// Quiescent and overloaded destinations are not in the sums: weights 0, 2(ovl), 3 -> total
		// 3, draws mod 4 all reach C.
		{"skips", []Dest{dst(0, 0, 0), overloaded(dst(2, 0, 0)), dst(3, 9, 0)}, 0, 3, 2},
		{"none", []Dest{dst(0, 0, 0), overloaded(dst(2, 0, 0))}, 0, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := twosPick(tc.ds, tc.r1, tc.r2); got != tc.want {
				t.Fatalf("twosPick(%d, %d) = %d, want %d", tc.r1, tc.r2, got, tc.want)
			}
		})
	}
}

// TestTwosWeights checks that with idle servers twos draws in proportion to (weight, +1 for the
// first) over total+1, since the first draw wins every tie.
func TestTwosWeights(t *testing.T) {
	ds := []Dest{dst(1, 0, 0), dst(2, 0, 0), dst(0, 0, 0), dst(5, 0, 0)}
	s := newTwos(1, 2)
	const n = 90000
	var count [4]int
	for range n {
		count[s.Schedule(nil, ds)]++
	}
	for j, want := range []float64{2.0 / 9, 2.0 / 9, 0, 5.0 / 9} {
		if got := float64(count[j]) / n; got < want-0.01 || got > want+0.01 {
			t.Errorf("destination %d chosen %.3f of the time, want %.3f", j, got, want)
		}
	}
}
