package header

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// sipHash is a plain SipHash-c-d, the reference for HSipHash32.
func sipHash(k0, k1 uint64, msg []byte, c, d int) uint64 {
	v := [4]uint64{k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573}
	round := func() {
		v[0], v[1], v[2], v[3] = sipRound(v[0], v[1], v[2], v[3])
	}
	full := len(msg) / 8 * 8
	for i := 0; i < full; i += 8 {
		m := binary.LittleEndian.Uint64(msg[i:])
		v[3] ^= m
		for range c {
			round()
		}
		v[0] ^= m
	}
	var tail [8]byte
	copy(tail[:], msg[full:])
	b := uint64(len(msg))<<56 | binary.LittleEndian.Uint64(tail[:])
	v[3] ^= b
	for range c {
		round()
	}
	v[0] ^= b
	v[2] ^= 0xff
	for range d {
		round()
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

// TestHSipHash checks the SipHash rounds against the reference vectors of the SipHash paper
// (SipHash-2-4, key 00..0f, messages 00 01 02 ...), then HSipHash32 against SipHash-1-3 of its four
// bytes.
func TestHSipHash(t *testing.T) {
	var key, msg [16]byte
	for i := range key {
		key[i], msg[i] = byte(i), byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:]), binary.LittleEndian.Uint64(key[8:])
	for n, want := range map[int]uint64{0: 0x726fdb47dd0e0e31, 4: 0xcf2794e0277187b7, 15: 0xa129ca6149be45e5} {
		if got := sipHash(k0, k1, msg[:n], 2, 4); got != want {
			t.Fatalf("SipHash-2-4 of %d bytes = %#x, want %#x", n, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		k, m := rng.Uint64(), rng.Uint32()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], m)
		if got, want := HSipHash32(k, k, m), uint32(sipHash(k, k, b[:], 1, 3)); got != want {
			t.Fatalf("HSipHash32(%#x, %#x) = %#x, want %#x", k, m, got, want)
		}
	}
}

// TestSipHash24 checks SipHash24 (whole 64-bit words) against the paper's reference vectors and the
// reference implementation above.
func TestSipHash24(t *testing.T) {
	k0 := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	k1 := binary.LittleEndian.Uint64([]byte{8, 9, 10, 11, 12, 13, 14, 15})
	if got := SipHash24(k0, k1, nil); got != 0x726fdb47dd0e0e31 {
		t.Errorf("empty: %#x", got)
	}
	m := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	if got := SipHash24(k0, k1, []uint64{m}); got != 0x93f5f5799a932462 {
		t.Errorf("8 bytes: %#x", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		ws := make([]uint64, rng.IntN(7))
		msg := make([]byte, 8*len(ws))
		for i := range ws {
			ws[i] = rng.Uint64()
			binary.LittleEndian.PutUint64(msg[8*i:], ws[i])
		}
		k0, k1 := rng.Uint64(), rng.Uint64()
		if got, want := SipHash24(k0, k1, ws), sipHash(k0, k1, msg, 2, 4); got != want {
			t.Fatalf("SipHash24 of %d words = %#x, want %#x", len(ws), got, want)
		}
	}
}
