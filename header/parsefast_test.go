package header

import (
	"encoding/binary"
	"testing"
)

// TestParseFastAgrees: on every frame the fast path accepts, it gives exactly what the generic
// parser gives; over the golden frames and random mutations of them (seed logged, TEST_SEED).
func TestParseFastAgrees(t *testing.T) {
	rng := testRand(t)
	var frames [][]byte
	for _, c := range parseCases(t) {
		frames = append(frames, c.frame)
	}
	accepted := 0
	check := func(f []byte) {
		var fast, slow Packet
		if !fast.parseFast(f) {
			return
		}
		accepted++
		if r := slow.parseGeneric(f); r != ParseOK || fast != slow {
			t.Fatalf("frame %x:\nfast %+v\ngeneric %+v (%v)", f, fast, slow, r)
		}
	}
	for _, f := range frames {
		check(f)
		for range 200 {
			m := append([]byte(nil), f...)
			if len(m) == 0 {
				break
			}
			switch rng.IntN(3) {
			case 0:
				m[rng.IntN(len(m))] ^= byte(1 << rng.IntN(8))
			case 1:
				m = m[:rng.IntN(len(m)+1)]
			case 2:
				if len(m) > 18 {
					binary.BigEndian.PutUint16(m[16:], uint16(rng.IntN(1<<16)))
				}
			}
			check(m)
		}
	}
	if accepted == 0 {
		t.Fatal("the fast path accepted no frame: the test checks nothing")
	}
	t.Logf("%d frames taken by the fast path", accepted)
}
