package dataplane

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

// panicky panics on frames whose first byte is 0xee and drops the others.
type panicky struct{ seen int }

func (p *panicky) ProcessAt(buf []byte, off, n, in int, now int64) (Verdict, int, int, int) {
	p.seen++
	if buf[off] == 0xee {
		_ = buf[off+n+len(buf)] // out of range: a bug a packet triggers
	}
	return VerdictDrop, 0, off, n
}

// TestWorkerRecoversFromPanic: a packet that makes processing panic is dropped, the frame goes
// back to the UMEM, the panic is counted and logged once with the frame's first bytes, and the
// worker handles the next packets.
func TestWorkerRecoversFromPanic(t *testing.T) {
	o := xsk.DefaultOptions()
	o.NumFrames = 64
	u, err := xsk.NewUMEM(o)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	core, logs := observer.New(zap.ErrorLevel)
	proc := &panicky{}
	w := &worker{dp: &Dataplane{log: zap.New(core)}, p: newTestEnv(t, 16).p, proc: proc, umem: u,
		frameMask: uint64(o.FrameSize - 1)}
	free := u.FreeCount()
	send := func(first byte) {
		addr, ok := u.Alloc()
		if !ok {
			t.Fatal("no free frame")
		}
		addr += xsk.XDPPacketHeadroom
		f := u.Frame(addr)
		f[0], f[1] = first, 0x42
		func() {
			defer w.recoverPanic()
			w.handle(xsk.Desc{Addr: addr, Len: 60}, 0, t0, fromRX)
		}()
	}
	for _, b := range []byte{0x00, 0xee, 0x01, 0xee, 0x02} {
		send(b)
	}
	if proc.seen != 5 {
		t.Fatalf("processed %d frames, want 5", proc.seen)
	}
	if w.p.c.panics != 2 {
		t.Fatalf("panics counted %d, want 2", w.p.c.panics)
	}
	if got := u.FreeCount(); got != free {
		t.Fatalf("%d frames free, want %d: a panicking frame was not given back", got, free)
	}
	if logs.Len() != 1 {
		t.Fatalf("%d log lines, want 1 (the first panic)", logs.Len())
	}
	if f, _ := logs.All()[0].ContextMap()["frame"].(string); !strings.HasPrefix(f, "ee42") {
		t.Fatalf("logged frame %q, want it to start with ee42", f)
	}
}
