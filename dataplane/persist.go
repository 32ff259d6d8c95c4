package dataplane

import (
	"sync/atomic"

	"github.com/xdpvs/xdpvs/header"
)

// Persistence templates (IPVS's IP_VS_CONN_F_TEMPLATE connections): for a persistent service, the
// real server chosen for a client, or for the client's network under -M, so that its next
// connections go to the same server until the template expires. IPVS keeps templates in its
// connection table; ours are shared by all workers, because a client's connections are spread
// over workers by port. The table is read and written only when a connection is created, never per
// packet, and takes no lock: slots are claimed with compare-and-swap, values packed in one word.
//
// A template lives for the service's persistence timeout after its last use, and longer while it
// still controls connections, as in IPVS. A janitor (the control plane) frees expired ones.
type templates struct {
	slots []tmplSlot
	mask  uint64
	key   header.HashKey // random: a template's key is its hash, so nobody may choose collisions
	full  atomic.Uint64  // templates not made for lack of a free slot
}

type tmplSlot struct {
	key  atomic.Uint64 // tmplEmpty, tmplDeleted or the key's hash
	val  atomic.Uint64 // real-server id (16) | generation (16) | expiry in seconds (32); 0 = being made
	refs atomic.Int32  // connections the template controls
	_    [4]byte
}

const (
	tmplEmpty   = 0
	tmplDeleted = 1
	tmplProbes  = 64 // the longest probe before a template is given up
)

func newTemplates(n int) *templates {
	size := 1
	for size < n {
		size <<= 1
	}
	return &templates{slots: make([]tmplSlot, size), mask: uint64(size - 1), key: header.NewHashKey()}
}

// keyOf is the key of the template of client (masked) for service k.
func (ts *templates) keyOf(k *svcKey, client *header.Addr) uint64 {
	t := header.Tuple{SrcAddr: *client, DstAddr: k.addr, DstPort: k.port, Proto: uint8(k.proto)}
	h := t.Hash(&ts.key)
	if h <= tmplDeleted {
		h += 2
	}
	return h
}

func packTmpl(id, gen uint16, expires uint32) uint64 {
	return uint64(id)<<48 | uint64(gen)<<32 | uint64(expires)
}

func unpackTmpl(v uint64) (id, gen uint16, expires uint32) {
	return uint16(v >> 48), uint16(v >> 32), uint32(v)
}

// lookup returns the slot of key, if present.
func (t *templates) lookup(key uint64) (int, bool) {
	for i, n := key&t.mask, 0; n < tmplProbes; i, n = (i+1)&t.mask, n+1 {
		switch k := t.slots[i].key.Load(); k {
		case key:
			return int(i), true
		case tmplEmpty:
			return 0, false
		}
	}
	return 0, false
}

// claim finds or makes the slot of key; false if the table has no room along the probe.
func (t *templates) claim(key uint64) (int, bool) {
	if i, ok := t.lookup(key); ok {
		return i, true
	}
	for i, n := key&t.mask, 0; n < tmplProbes; i, n = (i+1)&t.mask, n+1 {
		s := &t.slots[i]
		k := s.key.Load()
		if (k == tmplEmpty || k == tmplDeleted) && s.key.CompareAndSwap(k, key) {
			s.val.Store(0)
			s.refs.Store(0)
			return int(i), true
		}
		if k == key { // another worker made it meanwhile
			return int(i), true
		}
	}
	t.full.Add(1)
	return 0, false
}

// sweep frees the templates expired at now (seconds) that control no connection, and calls
// live for every other one.
func (t *templates) sweep(now uint32, live func(id, gen uint16)) {
	for i := range t.slots {
		s := &t.slots[i]
		k := s.key.Load()
		if k == tmplEmpty || k == tmplDeleted {
			continue
		}
		v := s.val.Load()
		id, gen, exp := unpackTmpl(v)
		if v != 0 && exp <= now && s.refs.Load() <= 0 {
			s.key.CompareAndSwap(k, tmplDeleted)
			continue
		}
		if v != 0 {
			live(id, gen)
		}
	}
}

// maskAddr applies a persistence netmask of bits to a client address (IPv4 bits count from the
// IPv4 address, not the mapped form).
func maskAddr(a header.Addr, bits int) header.Addr {
	if a.Is4() {
		bits += 96
	}
	for i := range a {
		switch {
		case bits >= 8:
			bits -= 8
		case bits <= 0:
			a[i] = 0
		default:
			a[i] &= byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return a
}
