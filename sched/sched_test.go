package sched

import (
	"slices"
	"sync/atomic"
	"testing"
)

func dests(weights ...int32) []Dest {
	ds := make([]Dest, len(weights))
	for i, w := range weights {
		ds[i].Weight = w
	}
	return ds
}

func sequence(t *testing.T, name string, ds []Dest, n int) []int {
	t.Helper()
	f, ok := Lookup(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	s := f(Config{Dests: ds}).Instance()
	out := make([]int, n)
	for i := range out {
		out[i] = s.Schedule(nil, ds)
	}
	return out
}

// The expected sequences are derived by hand from ip_vs_rr.c and ip_vs_wrr.c.
func TestSequences(t *testing.T) {
	for _, tc := range []struct {
		name, sched string
		ds          []Dest
		want        []int
	}{
		{"rr_three", "rr", dests(1, 1, 1), []int{0, 1, 2, 0, 1, 2, 0}},
		{"rr_ignores_weight", "rr", dests(5, 1), []int{0, 1, 0, 1}},
		{"rr_skips_quiescent", "rr", dests(1, 0, 1), []int{0, 2, 0, 2}},
		{"rr_none", "rr", dests(0, 0), []int{-1, -1}},
		// wrr 4,3,2: mw 4, gcd 1. cw=4: A; cw=3: A B; cw=2: A B C; cw=1: A B C.
		{"wrr_4_3_2", "wrr", dests(4, 3, 2), []int{0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1}},
		// wrr 2,4 with gcd 2: cw=4: B; cw=2: A B.
		{"wrr_gcd", "wrr", dests(2, 4), []int{1, 0, 1, 1, 0, 1}},
		{"wrr_equal", "wrr", dests(3, 3), []int{0, 1, 0, 1}},
		{"wrr_quiescent", "wrr", dests(0, 2, 1), []int{1, 1, 2, 1, 1, 2}},
		{"wrr_none", "wrr", dests(0), []int{-1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sequence(t, tc.sched, tc.ds, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("sequence %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOverloadedSkipped(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		ds := dests(1, 1, 1)
		ds[1].Overloaded = true
		for i, j := range sequence(t, name, ds, 30) {
			if j == 1 || j < 0 {
				t.Fatalf("%s: choice %d = %d with destination 1 overloaded", name, i, j)
			}
		}
	}
}

// TestSharedPosition checks that instances sharing a position (one per worker) rotate as one.
func TestSharedPosition(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		f, _ := Lookup(name)
		ds := dests(3, 2, 1)
		var pos atomic.Uint64
		a, b := f(Config{Dests: ds, Position: &pos}).Instance(), f(Config{Dests: ds, Position: &pos}).Instance()
		single := sequence(t, name, ds, 60)
		for i := range 60 {
			s := a
			if i%3 == 1 {
				s = b
			}
			if got := s.Schedule(nil, ds); got != single[i] {
				t.Fatalf("%s: choice %d = %d from shared instances, %d from one", name, i, got, single[i])
			}
		}
	}
}

// TestWeightProportionality checks one full wrr cycle chooses each destination weight/gcd times.
func TestWeightProportionality(t *testing.T) {
	ds := dests(100, 50, 25, 0, 75)
	count := map[int]int{}
	for _, j := range sequence(t, "wrr", ds, (100+50+25+75)/25*10) {
		count[j]++
	}
	for j, w := range []int{100, 50, 25, 0, 75} {
		if count[j] != w/25*10 {
			t.Fatalf("destination %d (weight %d) chosen %d times in 10 cycles: %v", j, w, count[j], count)
		}
	}
}

func TestScheduleAllocs(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		f, _ := Lookup(name)
		ds := dests(3, 2, 1)
		s := f(Config{Dests: ds}).Instance()
		if a := testing.AllocsPerRun(1000, func() { s.Schedule(nil, ds) }); a != 0 {
			t.Fatalf("%s: %v allocations per Schedule", name, a)
		}
	}
}
