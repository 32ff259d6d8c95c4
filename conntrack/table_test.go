package conntrack

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

type payload struct{ rs uint32 }

func tuple(c, v string, cport, vport uint16) header.Tuple {
	return header.Tuple{
		SrcAddr: header.AddrFromNetip(netip.MustParseAddr(c)), DstAddr: header.AddrFromNetip(netip.MustParseAddr(v)),
		SrcPort: cport, DstPort: vport, Proto: 6,
	}
}

// conn returns the original and reply tuples of a NAT connection from client port p.
func conn(p uint16) (header.Tuple, header.Tuple) {
	o := tuple("198.18.0.2", "198.18.0.10", p, 80)
	r := tuple("198.18.1.2", "198.18.0.2", 8080, p)
	return o, r
}

func TestTableInsertLookupDelete(t *testing.T) {
	tb := New[payload](1000, 0, nil)
	var ids []uint32
	for p := uint16(1); p <= 1000; p++ {
		o, r := conn(p)
		id, res := tb.Insert(&o, &r, int64(time.Minute))
		if res != Inserted {
			t.Fatalf("insert %d failed", p)
		}
		tb.Entry(id).Value.rs = uint32(p)
		ids = append(ids, id)
	}
	if tb.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", tb.Len())
	}
	o, r := conn(1001)
	if _, res := tb.Insert(&o, &r, 0); res != Full {
		t.Fatalf("insert into a full table: %v, want Full", res)
	}
	// Both directions find the entry; a duplicate is refused.
	for p := uint16(1); p <= 1000; p++ {
		o, r := conn(p)
		id, dir, ok := tb.Lookup(&o)
		if !ok || dir != DirOriginal || tb.Entry(id).Value.rs != uint32(p) {
			t.Fatalf("lookup original %d: id=%d dir=%d ok=%v", p, id, dir, ok)
		}
		id2, dir, ok := tb.Lookup(&r)
		if !ok || dir != DirReply || id2 != id {
			t.Fatalf("lookup reply %d: id=%d dir=%d ok=%v", p, id2, dir, ok)
		}
	}
	// Delete every other one; the rest must still be found (backward-shift deletion keeps probe runs).
	for i, id := range ids {
		if i%2 == 0 {
			tb.Delete(id)
		}
	}
	for p := uint16(1); p <= 1000; p++ {
		o, r := conn(p)
		_, _, ok1 := tb.Lookup(&o)
		_, _, ok2 := tb.Lookup(&r)
		want := p%2 == 0
		if ok1 != want || ok2 != want {
			t.Fatalf("after delete, port %d found=%v/%v want %v", p, ok1, ok2, want)
		}
	}
	if tb.Len() != 500 {
		t.Fatalf("Len = %d, want 500", tb.Len())
	}
}

// TestTableTinyCapacity: a full table of one still answers a miss (the index keeps an empty slot).
func TestTableTinyCapacity(t *testing.T) {
	tb := New[payload](1, 0, nil)
	o, r := conn(1)
	if _, res := tb.Insert(&o, &r, 0); res != Inserted {
		t.Fatal("insert failed")
	}
	o2, r2 := conn(2)
	if _, _, ok := tb.Lookup(&o2); ok {
		t.Fatal("found a connection never inserted")
	}
	if _, res := tb.Insert(&o2, &r2, 0); res != Full {
		t.Fatalf("insert into a full table: %v, want Full", res)
	}
}

func TestTableDuplicateRefused(t *testing.T) {
	tb := New[payload](10, 0, nil)
	o, r := conn(1)
	if _, res := tb.Insert(&o, &r, 0); res != Inserted {
		t.Fatal("first insert failed")
	}
	if _, res := tb.Insert(&o, &r, 0); res != Exists {
		t.Fatalf("duplicate insert: %v, want Exists", res)
	}
	o2, _ := conn(2)
	if _, res := tb.Insert(&o2, &r, 0); res != Exists {
		t.Fatalf("insert of a taken reply tuple: %v, want Exists", res)
	}
}

// TestTableRandomDifferential runs random inserts and deletes against a Go map as reference.
func TestTableRandomDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := New[payload](512, 0, nil)
	ref := map[uint16]uint32{}
	for step := 0; step < 200000; step++ {
		p := uint16(rng.IntN(2000))
		o, r := conn(p)
		if id, ok := ref[p]; ok && rng.IntN(2) == 0 {
			tb.Delete(id)
			delete(ref, p)
			continue
		}
		if _, ok := ref[p]; !ok {
			if id, res := tb.Insert(&o, &r, 0); res == Inserted {
				ref[p] = id
			} else if len(ref) < 512 {
				t.Fatalf("step %d: insert failed with %d entries", step, len(ref))
			}
		}
		q := uint16(rng.IntN(2000))
		o, r = conn(q)
		id, _, ok := tb.Lookup(&r)
		if wantID, want := ref[q]; ok != want || (ok && id != wantID) {
			t.Fatalf("step %d: lookup %d = %d,%v want %d,%v", step, q, id, ok, wantID, want)
		}
	}
}

func TestTableExpire(t *testing.T) {
	var expired []uint32
	now := int64(1000 * time.Second)
	tb := New[payload](100, now, func(id uint32, e *Entry[payload]) bool { expired = append(expired, e.Value.rs); return false })
	for p := uint16(1); p <= 10; p++ {
		o, r := conn(p)
		id, _ := tb.Insert(&o, &r, now+int64(p)*int64(time.Second))
		tb.Entry(id).Value.rs = uint32(p)
	}
	// Connection 5 is kept alive by traffic: its expiry moves forward 60 s.
	o, _ := conn(5)
	id, _, _ := tb.Lookup(&o)
	tb.SetExpires(id, now+int64(60*time.Second))

	if n := tb.Expire(now+int64(3*time.Second)+wheelTick, 0); n != 3 {
		t.Fatalf("expired %d at +3s, want 3 (%v)", n, expired)
	}
	if n := tb.Expire(now+int64(10*time.Second)+wheelTick, 0); n != 6 {
		t.Fatalf("expired %d at +10s, want 6 (%v)", n, expired)
	}
	if tb.Len() != 1 {
		t.Fatalf("Len = %d, want only the refreshed connection", tb.Len())
	}
	if n := tb.Expire(now+int64(61*time.Second), 0); n != 1 || expired[len(expired)-1] != 5 {
		t.Fatalf("refreshed connection: expired %d (%v)", n, expired)
	}
	// Everything is gone from the index too.
	for p := uint16(1); p <= 10; p++ {
		o, r := conn(p)
		if _, _, ok := tb.Lookup(&o); ok {
			t.Fatalf("port %d still indexed", p)
		}
		if _, _, ok := tb.Lookup(&r); ok {
			t.Fatalf("port %d reply still indexed", p)
		}
	}
}

func TestTableExpireLongTimeoutAndBudget(t *testing.T) {
	n := 0
	now := int64(0)
	tb := New[payload](100, now, func(uint32, *Entry[payload]) bool { n++; return false })
	o, r := conn(1)
	tb.Insert(&o, &r, now+int64(2*time.Hour)) // beyond one turn of the wheel
	for i := uint16(2); i < 52; i++ {
		o, r := conn(i)
		tb.Insert(&o, &r, now+int64(time.Second))
	}
	if got := tb.Expire(now+int64(2*time.Second), 10); got != 10 {
		t.Fatalf("budget 10 expired %d", got)
	}
	tb.Expire(now+int64(2*time.Second), 0)
	if n != 50 {
		t.Fatalf("expired %d, want 50", n)
	}
	for s := int64(0); s < 7200; s += 100 {
		tb.Expire(now+s*int64(time.Second), 0)
	}
	if n != 50 || tb.Len() != 1 {
		t.Fatalf("2h connection expired early: n=%d len=%d", n, tb.Len())
	}
	tb.Expire(now+int64(2*time.Hour)+wheelTick, 0)
	if n != 51 || tb.Len() != 0 {
		t.Fatalf("2h connection not expired: n=%d len=%d", n, tb.Len())
	}
}

// TestTableKeepAlive: an onExpire that keeps the entry (a persistence template with connections
// left) sees it again at its new expiry.
func TestTableKeepAlive(t *testing.T) {
	calls := 0
	var tb *Table[payload]
	tb = New[payload](10, 0, func(id uint32, e *Entry[payload]) bool {
		calls++
		if calls < 3 {
			tb.SetExpires(id, e.Expires()+int64(10*time.Second))
			return true
		}
		return false
	})
	o, r := conn(1)
	tb.Insert(&o, &r, int64(10*time.Second))
	for s := int64(0); s <= 40; s++ {
		tb.Expire(s*int64(time.Second), 0)
	}
	if calls != 3 || tb.Len() != 0 {
		t.Fatalf("onExpire called %d times, %d entries left; want 3 and 0", calls, tb.Len())
	}
	if _, _, ok := tb.Lookup(&o); ok {
		t.Fatal("freed entry still indexed")
	}
}

// TestBytesPerConn: an entry with a 16-byte payload and its share of the index fit in 128 bytes,
// at 1M and at 10M connections (issue: connection table at scale).
func TestBytesPerConn(t *testing.T) {
	type v16 [4]uint32
	entry := reflect.TypeFor[Entry[v16]]().Size()
	if entry > 108 {
		t.Errorf("entry is %d bytes, want <= 108", entry)
	}
	for _, n := range []int{1 << 20, 10_000_000} {
		slots := 1 << bits.Len64(uint64(n)*8/3+2-1)
		per := float64(entry) + float64(slots*4)/float64(n)
		t.Logf("%d connections: %.1f bytes each (entry %d, index %.1f)", n, per, entry, float64(slots*4)/float64(n))
		if per > 128 {
			t.Errorf("%d connections: %.1f bytes per connection, want <= 128", n, per)
		}
	}
}

func TestTableZeroAllocs(t *testing.T) {
	tb := New[payload](1024, 0, nil)
	o, r := conn(1)
	allocs := testing.AllocsPerRun(1000, func() {
		id, res := tb.Insert(&o, &r, 0)
		if res != Inserted {
			t.Fatal("insert")
		}
		tb.Lookup(&o)
		tb.Lookup(&r)
		tb.Delete(id)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per insert/lookup/delete", allocs)
	}
}

func TestNextTCPState(t *testing.T) {
	const syn, ack, fin, rst = tcpSYN, tcpACK, tcpFIN, tcpRST
	type step struct {
		dir   Dir
		flags uint8
		want  State
	}
	for _, tc := range []struct {
		name      string
		inputOnly bool
		steps     []step
	}{
		{"nat_handshake_and_close", false, []step{
			{DirOriginal, syn, sSR}, {DirReply, syn | ack, sSA}, {DirOriginal, ack, sES},
			{DirOriginal, fin | ack, sCW}, {DirReply, fin | ack, sTW}, {DirOriginal, ack, sTW},
		}},
		{"nat_server_closes_first", false, []step{
			{DirOriginal, syn, sSR}, {DirReply, syn | ack, sSA}, {DirOriginal, ack, sES},
			{DirReply, fin | ack, sFW}, {DirOriginal, fin | ack, sTW},
		}},
		{"nat_reset", false, []step{{DirOriginal, syn, sSR}, {DirReply, rst | ack, sCL}}},
		{"dr_input_only", true, []step{
			{DirOriginal, syn, sSA}, {DirOriginal, ack, sES}, {DirOriginal, fin | ack, sFW},
			{DirOriginal, ack, sFW}, {DirOriginal, rst, sCL},
		}},
		{"no_flags_no_change", false, []step{{DirOriginal, syn, sSR}, {DirOriginal, 0, sSR}}},
		{"syn_reuses_time_wait", false, []step{
			{DirOriginal, syn, sSR}, {DirReply, syn | ack, sSA}, {DirOriginal, ack, sES},
			{DirOriginal, rst, sCL}, {DirOriginal, syn, sSR},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StateNone
			for i, st := range tc.steps {
				s = NextTCPState(s, st.dir, tc.inputOnly, st.flags)
				if s != st.want {
					t.Fatalf("step %d (dir %d flags %#x): state %v, want %v", i, st.dir, st.flags, s, st.want)
				}
			}
		})
	}
}
