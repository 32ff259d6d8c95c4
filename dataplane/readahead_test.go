package dataplane

import (
	"bytes"
	"testing"
)

// aheadBatch is frames laid out as a worker's batch: each in a slot of its own of one buffer, with
// headroom before it.
type aheadBatch struct {
	buf    []byte
	offs   []int
	frames [][]byte
}

const aheadRoom = 2048

func newAheadBatch(frames [][]byte) *aheadBatch {
	b := &aheadBatch{buf: make([]byte, len(frames)*aheadRoom)}
	for i, f := range frames {
		off := i*aheadRoom + 256
		b.offs = append(b.offs, off)
		b.frames = append(b.frames, b.buf[off:off+copy(b.buf[off:(i+1)*aheadRoom], f)])
	}
	return b
}

type aheadResult struct {
	v    Verdict
	port int
	out  []byte
}

// TestReadAheadSameAsProcess: a whole conversation in one batch read ahead, whose first packets
// make the connection that later ones (read ahead before it existed) belong to, and whose RST
// ends it before a SYN opens it again, has the verdicts, output and counters of the same packets
// processed one by one.
func TestReadAheadSameAsProcess(t *testing.T) {
	type in struct {
		f    frameFn
		port int
	}
	rst := func(tb testing.TB) []byte { return c2v4.seg("R", 1101, 0, 0).frame(tb) }
	short := func(tb testing.TB) []byte { return ack(c2v4).frame(tb)[:30] }
	seq := []in{
		{syn(c2v4).frame, 0}, {synack(r2l4).frame, 1}, {ack(c2v4).frame, 0}, {dataC(c2v4).frame, 0},
		{dataS(r2l4).frame, 1}, {c2vU4.frame, 0}, {r2lU4.frame, 1}, {short, 0}, {c2vU6.frame, 0},
		{r2lU6.frame, 1}, {dataC(c2v4).frame, 0}, {rst, 0}, {syn(c2v4).frame, 0}, {synack(r2l4).frame, 1},
		{syn(c2v6).frame, 0}, {ack(c2vA4).frame, 0},
	}
	var frames [][]byte
	for _, s := range seq {
		frames = append(frames, s.f(t))
	}
	one, batch := newTestEnv(t, 1024), newTestEnv(t, 1024)
	var want []aheadResult
	for i, f := range frames {
		fr := append([]byte(nil), f...)
		v, port, off, n := one.p.ProcessAt(fr, 0, len(fr), seq[i].port, t0)
		want = append(want, aheadResult{v, port, append([]byte(nil), fr[off:off+n]...)})
	}
	b := newAheadBatch(frames)
	batch.p.ReadAhead(b.frames)
	for i, f := range b.frames {
		v, port, off, n := batch.p.ProcessAheadAt(i, b.buf, b.offs[i], len(f), seq[i].port, t0)
		got := aheadResult{v, port, b.buf[off : off+n]}
		if got.v != want[i].v || got.port != want[i].port || !bytes.Equal(got.out, want[i].out) {
			t.Errorf("frame %d: read ahead: %s, %d, %x\n one by one: %s, %d, %x", i, vname(got.v), got.port, got.out,
				vname(want[i].v), want[i].port, want[i].out)
		}
	}
	for _, d := range counterDiff(batch.p.c, one.p.c) {
		t.Errorf("counter %s", d)
	}
	if want[4].v != VerdictTX || want[12].v != VerdictTX || want[7].v != VerdictDrop {
		t.Errorf("the sequence does not do what it is meant to: %s, %s, %s", vname(want[4].v), vname(want[12].v), vname(want[7].v))
	}
}

// TestReadAheadStale: ProcessAheadAt given a frame other than the one read ahead at its position
// (another buffer, or the same buffer with another length), or a position beyond the batch,
// processes the frame it is given.
func TestReadAheadStale(t *testing.T) {
	e := newTestEnv(t, 1024)
	for _, s := range handshake4() {
		mustTX(t, e.p, s.f(t), s.port, t0)
	}
	reply := dataS(r2l4).frame(t)
	b := newAheadBatch([][]byte{dataC(c2v4).frame(t), dataC(c2v4).frame(t)})
	e.p.ReadAhead(b.frames)
	other := newAheadBatch([][]byte{reply})
	for name, call := range map[string]func() (Verdict, int){
		"other_buffer": func() (Verdict, int) {
			v, port, _, _ := e.p.ProcessAheadAt(0, other.buf, other.offs[0], len(reply), 1, t0)
			return v, port
		},
		"beyond": func() (Verdict, int) {
			v, port, _, _ := e.p.ProcessAheadAt(5, other.buf, other.offs[0], len(reply), 1, t0)
			return v, port
		},
		"same_buffer_other_frame": func() (Verdict, int) {
			copy(b.buf[b.offs[1]:], reply) // longer than what was read ahead there
			v, port, _, _ := e.p.ProcessAheadAt(1, b.buf, b.offs[1], len(reply), 1, t0)
			return v, port
		},
	} {
		copy(other.buf[other.offs[0]:], reply)
		if v, port := call(); v != VerdictTX || port != 0 {
			t.Errorf("%s: %s, %d; want the reply transmitted on port 0", name, vname(v), port)
		}
	}
}

// TestReadAheadZeroAllocs: reading a batch ahead and processing it allocates nothing.
func TestReadAheadZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	e := newTestEnv(t, 1024)
	for _, s := range handshake4() {
		mustTX(t, e.p, s.f(t), s.port, t0)
	}
	pristine := dataC(c2v4).frame(t)
	frames := make([][]byte, batchSize)
	for i := range frames {
		frames[i] = pristine
	}
	b := newAheadBatch(frames)
	n := testing.AllocsPerRun(100, func() {
		for _, f := range b.frames {
			copy(f, pristine)
		}
		e.p.ReadAhead(b.frames)
		for i, f := range b.frames {
			if v, _, _, _ := e.p.ProcessAheadAt(i, b.buf, b.offs[i], len(f), 0, t0+second); v != VerdictTX {
				t.Fatalf("Process = %s", vname(v))
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}
