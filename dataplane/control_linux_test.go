package dataplane

import (
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
		in: []*handoffRing{nil, ring}, out: make([]*handoffRing, 2), reqs: make(chan func(), 4),
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
	for deadline := time.Now().Add(5 * time.Second); !ring.push(frame, 0); {
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
