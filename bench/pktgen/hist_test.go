package pktgen

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

func TestBucketRange(t *testing.T) {
	for b := range Bucket(math.MaxUint64) {
		lo, w := bucketRange(b)
		if Bucket(lo) != b || Bucket(lo+w-1) != b || (b+1 < latBuckets-1 && Bucket(lo+w) != b+1) {
			t.Fatalf("bucket %d: [%d, +%d) maps to %d .. %d", b, lo, w, Bucket(lo), Bucket(lo+w-1))
		}
	}
	if Bucket(math.MaxUint64) >= latBuckets {
		t.Fatal("max out of range")
	}
}

// TestQuantiles compares the histogram's quantiles with exact ones over random samples: within
// one bucket (6.25 %).
func TestQuantiles(t *testing.T) {
	r := testutil.Rand(t)
	var h Histogram
	var xs []uint64
	for range 100_000 {
		v := uint64(math.Exp(r.NormFloat64()*1.5 + 10)) // ~22 µs median, long tail
		xs = append(xs, v)
		h.Record(v)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := float64(xs[int(q*float64(len(xs)))-1])
		got := float64(h.Quantile(q))
		if math.Abs(got-exact)/exact > 0.0625 {
			t.Errorf("q%.3f: %v, exact %v", q, time.Duration(got), time.Duration(exact))
		}
	}
	s := h.Summary()
	if s.Min != time.Duration(xs[0]) || s.Max != time.Duration(xs[len(xs)-1]) || s.Count != uint64(len(xs)) {
		t.Errorf("summary %+v", s)
	}
	var e Histogram
	if e.Quantile(0.5) != 0 || e.Summary().String() != "no samples" {
		t.Error("empty histogram")
	}
}

// TestSearch runs the binary search against a device that loses everything above its capacity
// (and a little just below, for PDR).
func TestSearch(t *testing.T) {
	const max = 4e6
	for _, tc := range []struct {
		name     string
		capacity float64
		loss     float64 // of a PDR trial between 0.97 and 1.0 of capacity
		maxLoss  float64
		want     float64
	}{
		{"ndr", 1.3e6, 0.001, 0, 0.97 * 1.3e6},
		{"pdr", 1.3e6, 0.001, PDRLoss, 1.3e6},
		{"all_pass", 5e6, 0, 0, max},
		{"none_pass", 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trial := func(rate float64) (TrialResult, error) {
				sent := uint64(rate)
				recv := sent
				switch {
				case rate > tc.capacity:
					recv = uint64(tc.capacity * 0.9)
				case rate > 0.97*tc.capacity:
					recv = uint64(float64(sent) * (1 - tc.loss))
				}
				return TrialResult{Rate: rate, Achieved: rate, Sent: sent, Received: recv}, nil
			}
			res, err := Search(trial, SearchOptions{Max: max, MaxLoss: tc.maxLoss, Resolution: 0.005, MaxTrials: 20})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.Rate-tc.want) > 0.005*max+1 {
				t.Fatalf("rate %.0f, want %.0f ± %.0f (%d trials)", res.Rate, tc.want, 0.005*max, len(res.Trials))
			}
			if res.Rate > 0 && res.Best.Loss() > tc.maxLoss {
				t.Fatalf("best trial lost %.4f", res.Best.Loss())
			}
		})
	}
}

// TestSearchGeneratorLimit: a generator that cannot reach the offered rate is judged at what it
// sent.
func TestSearchGeneratorLimit(t *testing.T) {
	trial := func(rate float64) (TrialResult, error) {
		a := min(rate, 2e6)
		return TrialResult{Rate: rate, Achieved: a, Sent: uint64(a), Received: uint64(a)}, nil
	}
	res, _ := Search(trial, SearchOptions{Max: 4e6})
	if res.Rate != 2e6 {
		t.Fatalf("rate %.0f, want the generator's 2e6", res.Rate)
	}
}
