package connsync

import (
	"bytes"
	"context"
	"crypto/cipher"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

var (
	keyA = Keys{Current: []byte("0123456789abcdef-current")}
	keyB = Keys{Current: []byte("fedcba9876543210-other")}
)

func mustAEADs(tb testing.TB, k Keys) []cipher.AEAD {
	tb.Helper()
	a, err := k.aeads()
	if err != nil {
		tb.Fatal(err)
	}
	return a[:]
}

func TestEnvelopeRoundTrip(t *testing.T) {
	s := sealer{epoch: 7, prefix: [4]byte{1, 2, 3, 4}}
	payload := bytes.Repeat([]byte{0xab}, control.SyncRecordSize*3)
	msg := s.seal(nil, mustAEADs(t, keyA)[0], MsgRecords, payload)
	if len(msg) != len(payload)+Overhead {
		t.Fatalf("message of %d bytes, want %d", len(msg), len(payload)+Overhead)
	}
	env, got, err := open(nil, msg, mustAEADs(t, keyA))
	if err != nil || !bytes.Equal(got, payload) || env != (envelope{t: MsgRecords, epoch: 7, seq: 1}) {
		t.Fatalf("open: %+v, %v", env, err)
	}
	// Rotation: a director with "new\nold" opens what one still on "old" seals, and the reverse
	// does not hold once "old" is gone.
	rotated := Keys{Current: keyB.Current, Previous: keyA.Current}
	if _, _, err := open(nil, msg, mustAEADs(t, rotated)); err != nil {
		t.Fatalf("the previous key is refused: %v", err)
	}
	if _, _, err := open(nil, msg, mustAEADs(t, keyB)); err != errAuth {
		t.Fatalf("wrong key: %v, want bad_auth", err)
	}
	for i := range msg { // every single bit flipped is refused
		for bit := range 8 {
			m := bytes.Clone(msg)
			m[i] ^= 1 << bit
			if _, _, err := open(nil, m, mustAEADs(t, keyA)); err == nil {
				t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
			}
		}
	}
}

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	step := func(epoch, seq uint64, want bool) {
		t.Helper()
		if got := w.check(epoch, seq); got != want {
			t.Fatalf("check(%d, %d) = %v, want %v", epoch, seq, got, want)
		}
		if want {
			w.accept(epoch, seq)
		}
	}
	step(10, 1, true)
	step(10, 1, false) // replay
	step(10, 3, true)
	step(10, 2, true) // late, in the window
	step(10, 2, false)
	step(10, 100, true)
	step(10, 37, true)  // 63 behind: the window's edge
	step(10, 37, false) //
	step(10, 36, false) // beyond it
	step(9, 500, false) // an older life of the peer
	step(11, 1, true)   // it restarted
	step(10, 101, false)
}

// fakeSyncer is a dataplane: what it exports, what it was given, and a table for bulk copies.
type fakeSyncer struct {
	mu       sync.Mutex
	export   []byte
	imported []byte
	table    []byte
	room     int // records SyncImport takes per call (0: all)
}

func (f *fakeSyncer) SyncExport(buf []byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := copy(buf, f.export[:min(len(f.export), len(buf)/control.SyncRecordSize*control.SyncRecordSize)])
	f.export = f.export[n:]
	return n
}

func (f *fakeSyncer) SyncImport(recs []byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(recs) / control.SyncRecordSize
	if f.room > 0 {
		n = min(n, f.room)
	}
	f.imported = append(f.imported, recs[:n*control.SyncRecordSize]...)
	return n
}

func (f *fakeSyncer) SyncBulk(yield func([]byte) bool) error {
	f.mu.Lock()
	t := bytes.Clone(f.table)
	f.mu.Unlock()
	for len(t) > 0 {
		n := min(len(t), 10*control.SyncRecordSize)
		if !yield(t[:n]) {
			return nil
		}
		t = t[n:]
	}
	return nil
}

func (f *fakeSyncer) got() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.imported)
}

// records makes n records, each its index in every byte but the stamp.
func records(n int, stamp time.Time) []byte {
	b := make([]byte, n*control.SyncRecordSize)
	for i := range n {
		r := b[i*control.SyncRecordSize : (i+1)*control.SyncRecordSize]
		for j := range r {
			r[j] = byte(i)
		}
		for j := range 8 {
			r[stampOffset+j] = byte(uint64(stamp.UnixNano()) >> (56 - 8*j))
		}
	}
	return b
}

func newTestChannel(t *testing.T, listen netip.AddrPort, peers []netip.AddrPort, k Keys, s control.Syncer, digests ...Digests) *Channel {
	t.Helper()
	cfg := Config{Listen: listen, Peers: peers, Keys: k, Syncer: s, Log: zaptest.NewLogger(t), JoinTimeout: 3 * time.Second}
	if len(digests) > 0 {
		cfg.Digests = digests[0]
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChannel: two directors over loopback. B joins: it asks A for a bulk copy and is ready once
// it has A's table; then what A exports reaches B, whole and in order, batched to the MTU; a
// third party with the wrong key gets nothing in.
func TestChannel(t *testing.T) {
	a0, b0 := netip.MustParseAddrPort("127.0.0.1:48481"), netip.MustParseAddrPort("127.0.0.1:48482")
	fa, fb := &fakeSyncer{table: records(25, time.Now())}, &fakeSyncer{}
	a := newTestChannel(t, a0, []netip.AddrPort{b0}, keyA, fa)
	b := newTestChannel(t, b0, []netip.AddrPort{a0}, keyA, fb)
	waitFor(t, "B ready", b.Ready)
	if got := fb.got(); !bytes.Equal(got, fa.table) {
		t.Fatalf("B's bulk copy: %d bytes, want A's table of %d", len(got), len(fa.table))
	}
	st := b.Status()
	if st.Join != "done" || st.Peers[0].BulkRecs != 25 {
		t.Fatalf("B's status: %+v", st)
	}
	want := records(100, time.Now())
	fa.mu.Lock()
	fa.export = bytes.Clone(want)
	fa.mu.Unlock()
	waitFor(t, "100 records at B", func() bool { return len(fb.got()) == len(fa.table)+len(want) })
	if got := fb.got()[len(fa.table):]; !bytes.Equal(got, want) {
		t.Fatal("B's records differ from A's export")
	}
	as := a.Status()
	if per := (1500 - 48 - Overhead) / control.SyncRecordSize; as.Peers[0].Sent.Messages < uint64(100/per) {
		t.Fatalf("A sent %d messages for 100 records: want at most %d a message", as.Peers[0].Sent.Messages, per)
	}
	if p := b.Status().Peers[0]; p.LagP99 <= 0 || p.LagP99 > 5*time.Second {
		t.Fatalf("lag p99 %v", p.LagP99)
	}
	_ = a
}

// TestReceiveRejects: a wrong key, a replay, a message from no peer, a bad length: each dropped,
// counted, and nothing imported.
func TestReceiveRejects(t *testing.T) {
	f := &fakeSyncer{}
	c, err := New(Config{Listen: netip.MustParseAddrPort("127.0.0.1:48483"), Peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:8848")},
		Keys: keyA, Syncer: f, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	peer, stranger := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	good := sealer{epoch: 5}
	rec := records(2, time.Now())
	m1 := good.seal(nil, mustAEADs(t, keyA)[0], MsgRecords, rec)
	wrong := sealer{epoch: 5}
	now := time.Now()
	c.handle(wrong.seal(nil, mustAEADs(t, keyB)[0], MsgRecords, rec), peer, nil, now)
	c.handle(m1, stranger, nil, now)
	c.handle(m1[:20], peer, nil, now)
	c.handle(good.seal(nil, mustAEADs(t, keyA)[0], MsgRecords, rec[:50]), peer, nil, now)
	if len(f.got()) != 0 {
		t.Fatal("a bad message was imported")
	}
	c.handle(m1, peer, nil, now)
	c.handle(m1, peer, nil, now) // replayed
	if got := f.got(); !bytes.Equal(got, rec) {
		t.Fatalf("imported %d bytes, want the 2 records once", len(got))
	}
	st := c.Status()
	want := map[string]uint64{DropBadAuth: 1, DropMalformed: 1, DropBadLength: 1, DropReplay: 1}
	for _, d := range st.Peers[0].Drops {
		if want[d.Name] != d.Count {
			t.Errorf("%s: %d, want %d", d.Name, d.Count, want[d.Name])
		}
		delete(want, d.Name)
	}
	if len(want) != 0 || len(st.Drops) != 1 || st.Drops[0] != (api.Count{Name: DropUnknownPeer, Count: 1}) {
		t.Errorf("drops %+v / %+v, missing %v", st.Peers[0].Drops, st.Drops, want)
	}
}

// FuzzReceive: whatever arrives from a peer, no panic, and nothing is imported unless it
// authenticates (the fuzzer cannot forge a tag: an import means the input was a sealed message of
// the seed corpus, which carries whole records).
func FuzzReceive(f *testing.F) {
	s := sealer{epoch: 1}
	aead := mustAEADs(f, keyA)[0]
	f.Add(s.seal(nil, aead, MsgRecords, records(3, time.Now())))
	f.Add(s.seal(nil, aead, MsgBulkEnd, nil))
	f.Add(s.seal(nil, aead, MsgDigests, encodeDigests(nil, map[model.ServiceKey]string{
		{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}: "0123456789abcdef"})))
	f.Add(s.seal(nil, aead, MsgRecords, []byte{1, 2, 3}))
	f.Add([]byte("XSYN\x01\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fs := &fakeSyncer{}
		c := &Channel{cfg: Config{Syncer: fs}, log: zap.NewNop(), peers: []*peer{newPeer(netip.MustParseAddrPort("198.18.0.2:8848"), 10)}}
		c.aeads, _ = keyA.aeads()
		c.handle(msg, netip.MustParseAddr("198.18.0.2"), nil, time.Now())
		if got := fs.got(); len(got) > 0 {
			if _, _, err := open(nil, msg, mustAEADs(t, keyA)); err != nil || len(got)%control.SyncRecordSize != 0 {
				t.Fatalf("imported %d bytes of a message that does not open: %v", len(got), err)
			}
		}
	})
}

// TestDigests: the digests round-trip; two directors whose table for one service differs list it
// (and count it once) on both sides, and stop listing it when they agree; a service only one has
// is no mismatch.
func TestDigests(t *testing.T) {
	web := model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}
	dns := model.ServiceKey{Protocol: model.UDP, Address: netip.MustParseAddr("2001:2::10"), Port: 53}
	only := model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.11"), Port: 443}
	in := map[model.ServiceKey]string{web: "0123456789abcdef", dns: "fedcba9876543210"}
	got, ok := decodeDigests(encodeDigests(nil, in))
	if !ok || len(got) != 2 || got[web] != in[web] || got[dns] != in[dns] {
		t.Fatalf("round trip: %v", got)
	}
	if _, ok := decodeDigests(make([]byte, digestEntry+1)); ok {
		t.Fatal("a partial entry decoded")
	}
	var mu sync.Mutex
	a := map[model.ServiceKey]string{web: "0123456789abcdef", dns: "1111111111111111", only: "2222222222222222"}
	b := map[model.ServiceKey]string{web: "0123456789abcdef", dns: "3333333333333333"}
	lock := func(m map[model.ServiceKey]string) Digests {
		return func() map[model.ServiceKey]string { mu.Lock(); defer mu.Unlock(); return maps.Clone(m) }
	}
	a0, b0 := netip.MustParseAddrPort("127.0.0.1:48491"), netip.MustParseAddrPort("127.0.0.1:48492")
	ca := newTestChannel(t, a0, []netip.AddrPort{b0}, keyA, &fakeSyncer{}, lock(a))
	cb := newTestChannel(t, b0, []netip.AddrPort{a0}, keyA, &fakeSyncer{}, lock(b))
	for _, c := range []*Channel{ca, cb} {
		c.sendDigests()
	}
	mismatched := func(c *Channel) []string { return c.Status().Peers[0].DigestMismatch }
	waitFor(t, "the mismatch on both", func() bool {
		return slices.Equal(mismatched(ca), []string{dns.String()}) && slices.Equal(mismatched(cb), []string{dns.String()})
	})
	mu.Lock()
	b[dns] = a[dns]
	mu.Unlock()
	cb.sendDigests()
	ca.sendDigests()
	waitFor(t, "the digests agree", func() bool { return len(mismatched(ca)) == 0 && len(mismatched(cb)) == 0 })
	for _, d := range ca.Status().Peers[0].Drops {
		if d.Name == DigestMismatch && d.Count != 1 {
			t.Errorf("%s counted %d times, want once", d.Name, d.Count)
		}
	}
}
