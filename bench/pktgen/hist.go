package pktgen

import (
	"fmt"
	"math/bits"
	"time"
)

// latBuckets is the number of buckets of the sink's latency histogram (bpf/sink.c).
const latBuckets = 1024

// Histogram is a log-linear latency histogram in nanoseconds, the layout of the sink's: values
// under 16 have a bucket each; above, a value whose highest set bit is msb falls in bucket
// (msb-3)*16 + the 4 bits below msb, so every bucket spans 1/16 of its power of two (~6 %).
// The cps client records into the same layout.
type Histogram struct {
	Buckets    [latBuckets]uint64
	Count, Sum uint64
	Min, Max   uint64
}

// Bucket returns the bucket of v.
func Bucket(v uint64) int {
	if v < 16 {
		return int(v)
	}
	msb := 63 - bits.LeadingZeros64(v)
	return min((msb-3)*16+int(v>>(msb-4)&15), latBuckets-1)
}

// bucketRange returns the smallest value of bucket b and its width.
func bucketRange(b int) (lo, width uint64) {
	if b < 16 {
		return uint64(b), 1
	}
	msb := b/16 + 3
	sub := uint64(b % 16)
	return (16 + sub) << (msb - 4), 1 << (msb - 4)
}

// Record adds one value.
func (h *Histogram) Record(v uint64) {
	h.Buckets[Bucket(v)]++
	if h.Count == 0 || v < h.Min {
		h.Min = v
	}
	h.Max = max(h.Max, v)
	h.Count++
	h.Sum += v
}

// Merge adds o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.Count == 0 {
		return
	}
	for i, v := range o.Buckets {
		h.Buckets[i] += v
	}
	if h.Count == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	h.Max = max(h.Max, o.Max)
	h.Count += o.Count
	h.Sum += o.Sum
}

// Quantile returns the value at quantile q (0..1): the middle of the bucket that holds it, kept
// within [Min, Max]. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	var total uint64
	for _, v := range h.Buckets {
		total += v
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for b, v := range h.Buckets {
		seen += v
		if seen >= rank {
			lo, w := bucketRange(b)
			mid := lo + w/2
			return time.Duration(min(max(mid, h.Min), h.Max))
		}
	}
	return time.Duration(h.Max)
}

// Mean is the average value.
func (h *Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return time.Duration(h.Sum / h.Count)
}

// Summary is a histogram's min, p50, p99, p99.9 and max.
type Summary struct {
	Count                    uint64
	Min, P50, P99, P999, Max time.Duration
}

// Summary computes the percentiles.
func (h *Histogram) Summary() Summary {
	return Summary{Count: h.Count, Min: time.Duration(h.Min), P50: h.Quantile(0.5), P99: h.Quantile(0.99),
		P999: h.Quantile(0.999), Max: time.Duration(h.Max)}
}

func (s Summary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	r := func(d time.Duration) time.Duration {
		switch {
		case d >= time.Millisecond:
			return d.Round(10 * time.Microsecond)
		case d >= 10*time.Microsecond:
			return d.Round(100 * time.Nanosecond)
		}
		return d
	}
	return fmt.Sprintf("min %v p50 %v p99 %v p99.9 %v max %v (%d samples)", r(s.Min), r(s.P50), r(s.P99), r(s.P999), r(s.Max), s.Count)
}
