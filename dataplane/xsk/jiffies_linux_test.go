package xsk

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

// TestJiffyClock: the measured tick is one of the kernel's, and the clock maps the jiffies a
// second measurement reads, a while later, to within a tick of when it read them.
func TestJiffyClock(t *testing.T) {
	testutil.RequireRoot(t)
	c, err := MeasureJiffyClock()
	if err != nil {
		t.Fatal(err)
	}
	if snapTick(c.Tick) != c.Tick || c.Tick < int64(time.Millisecond/2) || c.Tick > int64(50*time.Millisecond) {
		t.Fatalf("tick %d ns: not a CONFIG_HZ's", c.Tick)
	}
	time.Sleep(120 * time.Millisecond)
	d, err := MeasureJiffyClock()
	if err != nil {
		t.Fatal(err)
	}
	// d.J0 began at d.T0; c must say the same, to the interrupt latency a tick is seen late by
	// (a tenth of a tick allowed).
	if got := c.Nanos(d.J0); got < d.T0-c.Tick/10 || got > d.T0+c.Tick/10 {
		t.Fatalf("jiffy %d began at %d (measured again), the first clock says %d (%+d ns); tick %d ns",
			d.J0, d.T0, got, got-d.T0, c.Tick)
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if now := ts.Nano(); d.T0 > now || d.T0 < now-int64(time.Second) {
		t.Fatalf("jiffy began at %d, now is %d", d.T0, now)
	}
	t.Logf("tick %d ns (HZ %d); second measurement %d jiffies later, off by %+d ns",
		c.Tick, int64(time.Second)/c.Tick, d.J0-c.J0, c.Nanos(d.J0)-d.T0)
}

func TestSnapTick(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{
		{4_000_000, 4_000_000}, {4_100_000, 4_000_000}, {3_950_000, 4_000_000},
		{3_333_000, 3_333_333}, {1_020_000, 1_000_000}, {10_300_000, 10_000_000},
		{7_000_000, 7_000_000}, // no HZ near: as measured
	} {
		if got := snapTick(tc.in); got != tc.want {
			t.Errorf("snapTick(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
