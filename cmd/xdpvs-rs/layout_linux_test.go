package main

import (
	"encoding/binary"
	"testing"

	"github.com/xdpvs/xdpvs/toa/rs"
)

// TestLayout: the C structs (as bpf2go sees them) and toa/rs's wire layout agree.
func TestLayout(t *testing.T) {
	if n := binary.Size(rsToaKey{}); n != rs.KeySize {
		t.Errorf("struct toa_key is %d bytes, rs.KeySize %d", n, rs.KeySize)
	}
	if n := binary.Size(rsToaVal{}); n != rs.ValueSize {
		t.Errorf("struct toa_val is %d bytes, rs.ValueSize %d", n, rs.ValueSize)
	}
	spec, err := loadRs()
	if err != nil {
		t.Fatal(err)
	}
	if m := spec.Maps["toa"]; m.KeySize != rs.KeySize || m.ValueSize != rs.ValueSize {
		t.Errorf("toa map %d/%d", m.KeySize, m.ValueSize)
	}
	if n := spec.Maps["stats"].MaxEntries; int(n) != len(statNames) {
		t.Errorf("%d counters in C, %d names", n, len(statNames))
	}
}
