package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestHAFailover measures what a director's failure costs 100 long downloads (DR, mh) spread
// over two directors by ECMP: downloads completed with the right SHA-256, failed, and the
// longest stall of any of them. It runs only with XDPVS_HA_MEASURE=1 (about two minutes; the
// figures go to bench/results/ha.md):
//
//	XDPVS_HA_MEASURE=1 go test -count=1 -v -run TestHAFailover ./cmd/xdpvsd/
func TestHAFailover(t *testing.T) {
	if os.Getenv("XDPVS_HA_MEASURE") == "" {
		t.Skip("a measurement: XDPVS_HA_MEASURE=1 to run it")
	}
	for _, tc := range []struct {
		name  string
		extra []string
		fail  func(t *testing.T, e *haEnv)
	}{
		{"sigkill", nil, func(t *testing.T, e *haEnv) { _ = syscall.Kill(e.ds[1].PID(), syscall.SIGKILL) }},
		{"sigterm-drain2s", []string{"--drain-time", "2s"}, func(t *testing.T, e *haEnv) { _ = syscall.Kill(e.ds[1].PID(), syscall.SIGTERM) }},
		{"sigstop", nil, func(t *testing.T, e *haEnv) {
			_ = syscall.Kill(e.ds[1].PID(), syscall.SIGSTOP)
			t.Cleanup(func() { _ = syscall.Kill(e.ds[1].PID(), syscall.SIGCONT) })
		}},
		{"comeback", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHAEnv(t, "hafo"+tc.name[:3], tc.extra...)
			if tc.name == "comeback" {
				_ = syscall.Kill(e.ds[1].PID(), syscall.SIGKILL)
				e.waitRoutes(1, 1)
			}
			const n, size = 100, 24 << 20
			c := topo.HTTPClient(e.ha.Client, false)
			c.Timeout = 60 * time.Second
			var mu sync.Mutex
			var ok, bad int
			var worst time.Duration
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stall, err := download(c, uint64(i), size)
					mu.Lock()
					defer mu.Unlock()
					worst = max(worst, stall)
					if err != nil {
						bad++
						if bad <= 3 {
							t.Logf("download %d: %v", i, err)
						}
					} else {
						ok++
					}
				}()
			}
			time.Sleep(2 * time.Second)
			at := time.Since(start)
			if tc.fail != nil {
				tc.fail(t, e)
			} else {
				e.ds[1] = e.start(1) // the director comes back
			}
			wg.Wait()
			t.Logf("RESULT %s: %d downloads of %d MiB, failure at %v: %d complete with the right SHA-256, %d failed; longest stall %v; all done after %v",
				tc.name, n, size>>20, at.Round(100*time.Millisecond), ok, bad, worst.Round(10*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// download fetches n bytes of topo.Data(seed) from the IPv4 VIP and checks their SHA-256; it
// returns the longest gap between two reads.
func download(c *http.Client, seed uint64, n int64) (time.Duration, error) {
	resp, err := c.Get(topo.URL(topo.VIP4, 80, fmt.Sprintf("/data?n=%d&seed=%d", n, seed)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var got int64
	var worst time.Duration
	last := time.Now()
	for {
		k, err := resp.Body.Read(buf)
		now := time.Now()
		worst, last = max(worst, now.Sub(last)), now
		h.Write(buf[:k])
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return worst, fmt.Errorf("after %d bytes: %w", got, err)
		}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); got != n || sum != topo.DataSHA256(seed, n) {
		return worst, fmt.Errorf("%d bytes, SHA-256 %s: not the data sent", got, sum)
	}
	return worst, nil
}
