package main

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestHASloppy: flows that move between directors keep going (sloppy TCP). Twenty downloads (DR,
// mh) run through two directors behind ECMP, read slowly so that they last; one director is
// killed a second in. The flows it carried reach the other director mid-flow, which schedules
// them to the same real server (sloppy_created counts them): every download completes with the
// right SHA-256, none is reset. (TestHAFailover measures the same at scale, and the baseline
// without sloppy TCP, with XDPVS_HA_MEASURE=1.)
func TestHASloppy(t *testing.T) {
	e := newHAEnv(t, "hasloppy")
	const n, size = 20, 4 << 20
	c := topo.HTTPClient(e.ha.Client, false)
	c.Timeout = 30 * time.Second
	var mu sync.Mutex
	var r failoverResult
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stall, err := downloadPaced(c, uint64(i), size, 40*time.Millisecond) // 64 reads: about 3 s
			mu.Lock()
			defer mu.Unlock()
			r.add(stall, err)
			if err != nil {
				t.Logf("download %d: %v", i, err)
			}
		}()
	}
	time.Sleep(time.Second)
	before := e.conns(e.ds[1], topo.VIP4)
	if err := syscall.Kill(e.ds[1].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	moved := sloppyCreated(t, e, e.ds[0])
	t.Logf("director 1 carried %d of %d downloads when it was killed; director 0 took them over mid-flow (sloppy_created %d): %s",
		before, n, moved, &r)
	if r.ok != n || r.failed() != 0 {
		t.Errorf("%d of %d downloads complete: %s", r.ok, n, &r)
	}
	if before == 0 || moved < before {
		t.Errorf("director 1 carried %d downloads, director 0 opened %d connections mid-flow: want all of them moved", before, moved)
	}
}
