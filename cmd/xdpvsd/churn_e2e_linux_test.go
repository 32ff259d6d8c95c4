package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// TestChurn: 2,000 configuration changes in 60 s of traffic (real servers added and removed,
// weights changed, a server quiesced and back as a failing health check would, a second service
// made and deleted) while clients open new connections to the service without pause: no connection
// to a server that stayed fails, and the daemon's memory stays flat. The service's two steady real
// servers never leave; a third comes and goes, and a request that failed while it was being removed
// is excused (its connections expire with it, as IPVS's do).
func TestChurn(t *testing.T) {
	const (
		changes  = 2000
		duration = 60 * time.Second
	)
	testutil.RequireRoot(t)
	nat, err := topo.NewNAT(topo.Prefix("churn"), 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, nat)
	e := runDaemon(t, nat.Client, nat.Director, nat.Ifaces(), 1)
	e.nat = nat
	serve(t, nat.RS, func(i int) []string { return []string{topo.RS4(i)} }, 8080, 5353)
	svc := topo.VIP4 + ":80"
	e.adm1("-A", "-t", svc, "-s", "wrr")
	for i := range 2 {
		e.adm1("-a", "-t", svc, "-r", topo.RS4(i)+":8080", "-m", "-w", "5")
	}
	e.resolved(topo.RS4(0), topo.RS4(1))

	var (
		stop     atomic.Bool
		mu       sync.Mutex
		removals []time.Time // when each removal of the third server began
		failures []string
		excusedN int
		served   = map[string]int{}
		requests atomic.Int64
		wg       sync.WaitGroup
	)
	for c := range 4 { // clients
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := topo.HTTPClient(e.clientNS, false)
			client.Timeout = 3 * time.Second
			for !stop.Load() {
				start := time.Now()
				_, server, err := topo.Get(client, topo.URL(topo.VIP4, 80, "/"))
				requests.Add(1)
				mu.Lock()
				if err != nil {
					// Excused if the third server was removed while it ran (or just before:
					// the worker takes a change between two batches).
					excused, end := false, time.Now()
					for _, r := range removals {
						excused = excused || (r.After(start.Add(-time.Second)) && r.Before(end))
					}
					if excused {
						excusedN++
					} else {
						failures = append(failures, fmt.Sprintf("client %d at +%v: %v", c, time.Since(start).Round(time.Millisecond), err))
					}
				} else {
					served[server]++
				}
				mu.Unlock()
			}
		}()
	}

	rss := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.d.PID()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				n, _ := strconv.Atoi(strings.Fields(v)[0])
				return n // KiB
			}
		}
		return 0
	}
	time.Sleep(2 * time.Second) // the clients and the daemon warm up
	rssStart := rss()
	rng := rand.New(rand.NewPCG(7, 8))
	third, inThird := topo.RS4(2)+":8080", false
	other := topo.VIP4 + ":81"
	start := time.Now()
	for i := range changes {
		var args []string
		switch k := rng.IntN(6); {
		case k == 0 && !inThird:
			args, inThird = []string{"-a", "-t", svc, "-r", third, "-m", "-w", "3"}, true
		case k == 0:
			mu.Lock()
			removals = append(removals, time.Now())
			mu.Unlock()
			args, inThird = []string{"-d", "-t", svc, "-r", third}, false
		case k == 1 && inThird: // quiesce and back, as a failing health check would
			args = []string{"-e", "-t", svc, "-r", third, "-m", "-w", strconv.Itoa(rng.IntN(2) * 3)}
		case k == 2:
			args = []string{"-A", "-t", other, "-s", "rr"}
		case k == 3:
			args = []string{"-D", "-t", other}
		default: // a steady server's weight
			args = []string{"-e", "-t", svc, "-r", topo.RS4(rng.IntN(2)) + ":8080", "-m", "-w", strconv.Itoa(1 + rng.IntN(10))}
		}
		out, err := e.d.Adm(e.adm, args...)
		if err != nil && !strings.Contains(out, "Service already exists") && !strings.Contains(out, "No such service") {
			t.Fatalf("change %d %v: %v %s", i, args, err, out)
		}
		// Spread the changes over the duration.
		if ahead := time.Duration(i+1)*duration/changes - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	rssEnd := rss()
	t.Logf("%d changes in %v; %d requests (%v by server), %d failed during a removal of the third server, %d others; daemon RSS %d KiB → %d KiB",
		changes, elapsed.Round(time.Millisecond), requests.Load(), served, excusedN, len(failures), rssStart, rssEnd)
	if len(failures) > 0 {
		t.Errorf("connections to the steady servers failed:\n%s", strings.Join(failures[:min(len(failures), 20)], "\n"))
	}
	if served["rs0"] == 0 || served["rs1"] == 0 || served["rs2"] == 0 {
		t.Errorf("requests by server %v: every server should have served some", served)
	}
	if rssEnd > rssStart+rssStart/5+8192 {
		t.Errorf("the daemon's memory grew from %d KiB to %d KiB over the churn", rssStart, rssEnd)
	}
}
