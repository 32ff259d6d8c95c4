package dataplane

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// TestLivenessHeartbeat: an idle worker's loop goes round at least every poll timeout, and a
// worker held up (here by a request that takes 600 ms) stops beating: what the announcement
// policy's watchdog sees.
func TestLivenessHeartbeat(t *testing.T) {
	env := newTestEnv(t, 16)
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	d := &Dataplane{log: zap.NewNop()}
	d.conf.Store(env.conf)
	w := &worker{id: 0, cpu: -1, dp: d, p: env.p, proc: env.p, efd: efd, lists: make(chan listReq, 1),
		pollfds: []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}}
	d.workers = []*worker{w}
	var stop atomic.Bool
	done := make(chan struct{})
	go w.run(&stop, done)
	defer func() { stop.Store(true); w.wake(); <-done }()
	halt := func() { // the worker's loop stops going round, as a stalled one's would
		stop.Store(true)
		w.wake()
		<-done
	}

	age := func() time.Duration {
		li := d.Liveness()
		if len(li.Workers) != 1 || len(li.Detached) != 0 {
			t.Fatalf("Liveness() = %+v, want one worker and nothing detached", li)
		}
		return li.Workers[0].Age
	}
	time.Sleep(300 * time.Millisecond) // idle: asleep in poll, 100 ms at a time
	for range 5 {
		if a := age(); a > 600*time.Millisecond { // the watchdog allows 1 s
			t.Fatalf("an idle worker's heartbeat is %v old", a)
		}
		time.Sleep(70 * time.Millisecond)
	}
	halt()
	time.Sleep(450 * time.Millisecond)
	if a := age(); a < 350*time.Millisecond {
		t.Fatalf("a stalled worker's heartbeat is only %v old", a)
	}
	stop.Store(false)
	done = make(chan struct{})
	go w.run(&stop, done)
	time.Sleep(200 * time.Millisecond)
	if a := age(); a > 600*time.Millisecond { // the watchdog allows 1 s
		t.Fatalf("the worker came back but its heartbeat is %v old", a)
	}
}
