package dataplane

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

// newLoopDataplane returns a dataplane of one worker, over pipeline p and processor proc, whose
// loop runs for real but without sockets: frames reach it through the hand-off ring returned,
// as from a worker 1 (which does not exist). The loop stops at the test's end.
func newLoopDataplane(t *testing.T, p *Pipeline, proc processor) (*Dataplane, *handoffRing) {
	t.Helper()
	o := xsk.DefaultOptions()
	o.NumFrames = 256
	u, err := xsk.NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	d := &Dataplane{log: zap.NewNop()}
	d.conf.Store(p.conf)
	ring := newHandoffRing(u.MaxPacket())
	w := &worker{id: 0, cpu: -1, dp: d, p: p, proc: proc, umem: u, frameMask: uint64(o.FrameSize - 1), efd: efd,
		in: []*handoffRing{nil, ring}, out: make([]*handoffRing, 2), lists: make(chan listReq, 4),
		pollfds: []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}}
	w.publish(monotonic())
	d.workers = []*worker{w}
	done := make(chan struct{})
	go w.run(&d.stop, done)
	t.Cleanup(func() {
		d.stop.Store(true)
		var one = [8]byte{1}
		_, _ = unix.Write(efd, one[:])
		<-done
		u.Close()
		unix.Close(efd)
	})
	return d, ring
}

// send hands frame to the loop worker of d through ring, waiting for room.
func send(t *testing.T, d *Dataplane, ring *handoffRing, frame []byte) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ring.push(frame, 0, false); {
		if time.Now().After(deadline) {
			t.Fatal("the worker takes no frame")
		}
		time.Sleep(10 * time.Microsecond)
	}
	d.workers[0].wake()
}

// countProc counts each frame three times over (received, dropped, a packet of service 0) and
// blocks on hold while a frame's first byte is 0xbb.
type countProc struct {
	p    *Pipeline
	hold chan struct{}
}

func (c *countProc) ProcessAt(buf []byte, off, n, in int, now int64) (Verdict, int, int, int) {
	if buf[off] == 0xbb {
		<-c.hold
	}
	c.p.c.rx++
	c.p.c.drops[DropProto]++
	c.p.c.svc[0].InPkts++
	return VerdictDrop, 0, off, n
}

// TestStatsNeverWaitsForWorkers: Stats (the metrics scrape, --stats, --rate, the estimator, show
// workers) reads what the workers published: it answers at once while a worker is stuck in a
// packet (it waited up to 5 s for each such worker), and from a running worker it never sees
// numbers torn or going back.
func TestStatsNeverWaitsForWorkers(t *testing.T) {
	e := newTestEnv(t, 1024)
	proc := &countProc{p: e.p, hold: make(chan struct{})}
	d, ring := newLoopDataplane(t, e.p, proc)
	frame := make([]byte, 60)
	const frames = 2000
	var wg sync.WaitGroup
	var longest time.Duration
	var mu sync.Mutex
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				st := d.Stats()
				took := time.Since(start)
				mu.Lock()
				longest = max(longest, took)
				mu.Unlock()
				w, s := st.Workers[0], st.Services[0].Counters
				var proto uint64
				for _, c := range w.Drops {
					if c.Name == DropProto.String() {
						proto = c.Count
					}
				}
				if w.RXPackets != proto || w.RXPackets != s.InPkts {
					t.Errorf("torn: rx %d, proto drops %d, service packets %d", w.RXPackets, proto, s.InPkts)
					return
				}
				if w.RXPackets < last {
					t.Errorf("rx went back from %d to %d", last, w.RXPackets)
					return
				}
				last = w.RXPackets
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for range frames {
		send(t, d, ring, frame)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Workers[0].RXPackets != frames {
		if time.Now().After(deadline) {
			close(proc.hold)
			t.Fatalf("published rx %d, want %d", d.Stats().Workers[0].RXPackets, frames)
		}
		time.Sleep(10 * time.Millisecond)
	}
	frame[0] = 0xbb // this one holds the worker until the end
	send(t, d, ring, frame)
	for ring.pending() {
		time.Sleep(time.Millisecond)
	}
	for range 10 { // the worker is stuck in a packet: Stats answers all the same
		start := time.Now()
		got := d.Stats().Workers[0].RXPackets
		if took := time.Since(start); took > time.Second || got != frames {
			close(proc.hold)
			t.Fatalf("Stats took %v and gave rx %d (want %d) while the worker was stuck in a packet", took, got, frames)
		}
	}
	close(stop)
	wg.Wait()
	close(proc.hold)
	t.Logf("longest Stats with the worker running: %v", longest)
}

// lagProc measures how long each frame waited for the worker: the frame carries the time it was
// handed over.
type lagProc struct {
	mu      sync.Mutex
	longest int64
	n       int
}

func (l *lagProc) ProcessAt(buf []byte, off, n, in int, now int64) (Verdict, int, int, int) {
	lag := monotonic() - int64(binary.LittleEndian.Uint64(buf[off:]))
	l.mu.Lock()
	l.longest, l.n = max(l.longest, lag), l.n+1
	l.mu.Unlock()
	return VerdictDrop, 0, off, n
}

func (l *lagProc) take() (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, n := time.Duration(l.longest), l.n
	l.longest, l.n = 0, 0
	return d, n
}

// probe hands the worker a timestamped frame whenever it has taken the last one, until stop.
func probe(t *testing.T, d *Dataplane, ring *handoffRing, stop <-chan struct{}) {
	frame := make([]byte, 60)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !ring.pending() {
			binary.LittleEndian.PutUint64(frame, uint64(monotonic()))
			ring.push(frame, 0, false)
			d.workers[0].wake()
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// TestListingDoesNotStallForwarding: listing the million connections of a worker's table (-Lc)
// holds up the packets the worker forwards meanwhile no longer than a batch of the listing (it
// listed the whole table in one go: 345 ms without forwarding); every connection is listed once.
// The bound leaves room for this shared machine's scheduling (a few milliseconds); with -race,
// whose instrumentation and collector make the machine's pauses the longest, the table holds
// 200,000 connections and the wait is only reported.
func TestListingDoesNotStallForwarding(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 200_000
	}
	e := newTestEnv(t, 1<<20)
	fillTable(t, e.p, n, monotonic()+int64(time.Hour))
	lag := &lagProc{}
	d, ring := newLoopDataplane(t, e.p, lag)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); probe(t, d, ring, stop) }()
	defer func() { close(stop); <-done }()

	time.Sleep(200 * time.Millisecond)
	idle, idleN := lag.take()
	start := time.Now()
	seen := make(map[netip.AddrPort]bool, n)
	batches := 0
	err := d.Connections(func(cs []ConnInfo) bool {
		batches++
		for _, c := range cs {
			seen[c.Client] = true
		}
		return true
	})
	took := time.Since(start)
	listing, listingN := lag.take()
	if !raceEnabled {
		start := time.Now()
		count := 0
		_ = d.Connections(func(cs []ConnInfo) bool { count += len(cs); return true })
		t.Logf("again, counting only: %d in %v", count, time.Since(start))
	}
	t.Logf("listing %d connections in %d batches took %v; forwarding meanwhile: %d probes, the longest waited %v (without a listing: %d probes, %v)",
		len(seen), batches, took, listingN, listing, idleN, idle)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d connections listed, want %d", len(seen), n)
	}
	// Against the same machine's wait without a listing (its scheduling), the whole table in one
	// go cost 345 ms here; a batch at a time, a few ms.
	if listing > idle+100*time.Millisecond && !raceEnabled {
		t.Fatalf("a packet waited %v for the worker while it listed (%v without a listing)", listing, idle)
	}
}

// TestListingTimeout: a worker that does not answer a batch ends the listing with an error, and the
// batch it answers later goes into memory nobody reads (with -race: no race with the caller).
func TestListingTimeout(t *testing.T) {
	defer func(w time.Duration) { listWait = w }(listWait)
	listWait = 100 * time.Millisecond
	e := newTestEnv(t, 1024)
	fillTable(t, e.p, 100, monotonic()+int64(time.Hour))
	proc := &countProc{p: e.p, hold: make(chan struct{})}
	d, ring := newLoopDataplane(t, e.p, proc)
	frame := make([]byte, 60)
	frame[0] = 0xbb
	send(t, d, ring, frame)
	for ring.pending() {
		time.Sleep(time.Millisecond)
	}
	var got []ConnInfo
	err := d.Connections(func(cs []ConnInfo) bool { got = append(got, cs...); return true })
	if err == nil || len(got) != 0 {
		t.Fatalf("a stuck worker: %d connections listed, error %v", len(got), err)
	}
	close(proc.hold) // the worker answers the abandoned batch now
	deadline := time.Now().Add(5 * time.Second)
	for len(d.workers[0].lists) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not take the abandoned request")
		}
		time.Sleep(time.Millisecond)
	}
	got = got[:0]
	if err := d.Connections(func(cs []ConnInfo) bool { got = append(got, cs...); return true }); err != nil || len(got) != 100 {
		t.Fatalf("after: %d connections listed, error %v", len(got), err)
	}
}
