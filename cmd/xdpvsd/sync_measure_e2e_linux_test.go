package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// syncFigures is what show sync -o json says of the traffic and the lag.
type syncFigures struct {
	Sent  struct{ Messages, Records, Bytes uint64 }
	Peers []struct {
		LagP50 time.Duration `json:"lag_p50_ns"`
		LagP99 time.Duration `json:"lag_p99_ns"`
	}
}

func figures(t *testing.T, e *haEnv, d *topo.Daemon) syncFigures {
	t.Helper()
	var out struct{ Sync syncFigures }
	raw := mustAdm(t, d, e.adm, "show", "sync", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return out.Sync
}

// newConns opens a new connection (GET / from the IPv4 VIP: FULLNAT, TOA, SYN proxy) at rate a
// second until stop is closed; it returns the counts of those that worked and failed, and the
// longest time no connection worked.
func newConns(e *haEnv, rate int, stop <-chan struct{}) func() (ok, failed int64, gap time.Duration) {
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 5 * time.Second
	var nok, nfail atomic.Int64
	var mu sync.Mutex
	last, worst := time.Now(), time.Duration(0)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 512)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				nfail.Add(1) // the client cannot keep up: counted as a failure
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, _, err := topo.Get(c, topo.URL(topo.VIP4, 80, "/")); err != nil {
					nfail.Add(1)
					return
				}
				nok.Add(1)
				now := time.Now()
				mu.Lock()
				worst, last = max(worst, now.Sub(last)), now
				mu.Unlock()
			}()
		}
	}()
	return func() (int64, int64, time.Duration) { wg.Wait(); return nok.Load(), nfail.Load(), worst }
}

// TestSyncHAMeasure (XDPVS_HA_MEASURE=1) measures connection sync behind BIRD: the sync lag (a
// record's export on one director to its import on the other, p50/p99 of the last 1,024), and the
// messages and bytes a second, at 200 and 2,000 new connections a second (FULLNAT + TOA + SYN
// proxy); then 100 downloads (FULLNAT + SYN proxy and NAT64) and 200 new connections a second
// through a SIGKILL of director 1. Results: bench/results/ha.md.
func TestSyncHAMeasure(t *testing.T) {
	if os.Getenv("XDPVS_HA_MEASURE") == "" {
		t.Skip("a measurement: XDPVS_HA_MEASURE=1 to run it")
	}
	e, _ := newSyncHAEnv(t, "synme")
	const window = 10 * time.Second
	for _, rate := range []int{200, 2000} {
		f0, f1 := figures(t, e, e.ds[0]), figures(t, e, e.ds[1])
		stop := make(chan struct{})
		wait := newConns(e, rate, stop)
		time.Sleep(window)
		close(stop)
		ok, failed, _ := wait()
		g0, g1 := figures(t, e, e.ds[0]), figures(t, e, e.ds[1])
		s := window.Seconds()
		msgs := float64(g0.Sent.Messages+g1.Sent.Messages-f0.Sent.Messages-f1.Sent.Messages) / s
		bytes := float64(g0.Sent.Bytes+g1.Sent.Bytes-f0.Sent.Bytes-f1.Sent.Bytes) / s
		recs := float64(g0.Sent.Records+g1.Sent.Records-f0.Sent.Records-f1.Sent.Records) / s
		t.Logf("RESULT %d cps asked: %d connections done (%.0f/s), %d failed; sync %.0f msgs/s, %.0f records/s, %.0f bytes/s (both directors); lag at director 1 p50 %v p99 %v, at director 0 p50 %v p99 %v",
			rate, ok, float64(ok)/s, failed, msgs, recs, bytes, g1.Peers[0].LagP50, g1.Peers[0].LagP99, g0.Peers[0].LagP50, g0.Peers[0].LagP99)
	}

	const n, size = 100, 8 << 20
	waitDl, done, begun := downloads(e, n, size, 1000)
	stop := make(chan struct{})
	waitNew := newConns(e, 200, stop)
	deadline := time.Now().Add(30 * time.Second)
	for begun.Load() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // every download's connection exported and imported (lag p99 ≪ 0.5 s)
	before := done.Load()
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	errs := waitDl()
	took := time.Since(at)
	close(stop)
	ok, failed, gap := waitNew()
	bad, reset, timedOut := 0, 0, 0
	for i, err := range errs {
		if err != nil {
			bad++
			switch {
			case errors.Is(err, syscall.ECONNRESET):
				reset++
			case errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
				timedOut++
			}
			if bad <= 3 {
				t.Logf("download %d: %v", i, err)
			}
		}
	}
	t.Logf("RESULT SIGKILL of director 1 under load: %d downloads of %d MiB (%d over before it): %d complete with the right SHA-256, %d failed (%d reset, %d timed out after 120 s, the rest corrupt or refused), all done %v after; new connections at 200/s meanwhile: %d done, %d failed, longest gap %v",
		n, size>>20, before, n-bad, bad, reset, timedOut, took.Round(100*time.Millisecond), ok, failed, gap.Round(10*time.Millisecond))
	if bad > 0 {
		t.Errorf("%d downloads failed through the failure", bad)
	}
}
