package sched

import (
	"testing"
)

// digestOf builds scheduler name from cfg and returns its digest.
func digestOf(t *testing.T, name string, cfg Config) Digest {
	t.Helper()
	f, _ := Lookup(name)
	d, ok := DigestOf(name, f(cfg), cfg)
	if !ok {
		t.Fatalf("%s: no digest", name)
	}
	return d
}

// TestDigest: the digest of a consistent scheduler's table is the same for the same configuration
// built twice, pinned to a value (so that a change of how tables are built or digested is seen, as
// directors of different versions would see it), and changes with anything that changes a choice:
// the order, weights, addresses and ports of the real servers, the flags that the scheduler reads,
// mh's table size. The other schedulers have none.
func TestDigest(t *testing.T) {
	ds := mhDests(1, 2, 3)
	pins := map[string]string{"mh": "", "sh": "", "dh": ""} // the digest of each, found
	for name := range pins {
		base := Config{Dests: ds, Flags: FlagPort}
		a, b := digestOf(t, name, base), digestOf(t, name, Config{Dests: mhDests(1, 2, 3), Flags: FlagPort})
		if a != b {
			t.Fatalf("%s: the same configuration gives %v and %v", name, a, b)
		}
		pins[name] = a.String()
		swapped := mhDests(1, 2, 3)
		swapped[0], swapped[1] = swapped[1], swapped[0]
		weighted := mhDests(1, 2, 4)
		moved := mhDests(1, 2, 3)
		moved[2].Port = 8080
		variants := map[string]Config{
			"order":   {Dests: swapped, Flags: FlagPort},
			"weight":  {Dests: weighted, Flags: FlagPort},
			"port":    {Dests: moved, Flags: FlagPort},
			"servers": {Dests: mhDests(1, 2), Flags: FlagPort},
		}
		if name != "dh" { // dh reads no flag
			variants["flags"] = Config{Dests: ds}
		}
		if name == "mh" {
			variants["size"] = Config{Dests: ds, Flags: FlagPort, TableSize: 8191}
		}
		for what, cfg := range variants {
			if digestOf(t, name, cfg) == a {
				t.Errorf("%s: another %s, the same digest %v", name, what, a)
			}
		}
	}
	want := map[string]string{"mh": "7baaee54a345bee5", "sh": "40cc26b290e72e53", "dh": "2a90ee75919fca47"}
	for name, got := range pins {
		if got != want[name] {
			t.Errorf("%s: digest %s, pinned %s (a change of the tables or of the digest: directors of this version and the last disagree)", name, got, want[name])
		}
	}
	for _, name := range []string{"rr", "wrr", "wlc", "lblc", "twos"} {
		f, _ := Lookup(name)
		if _, ok := DigestOf(name, f(Config{Dests: ds}), Config{Dests: ds}); ok {
			t.Errorf("%s has a digest", name)
		}
		if Consistent(name) {
			t.Errorf("%s is called consistent", name)
		}
	}
}

// TestMHSize: mh's table has the size configured, the kernel's 4093 by default, and the sizes
// CheckMHSize takes are the primes in its bounds.
func TestMHSize(t *testing.T) {
	for _, size := range []int{0, 251, 8191, 65521, 131071} {
		s := mustScheduler(t, "mh", Config{Dests: mhDests(1, 1, 1), TableSize: size}).(*mh)
		want := size
		if size == 0 {
			want = MHDefaultSize
		}
		if len(s.lookup) != want {
			t.Fatalf("TableSize %d: %d entries", size, len(s.lookup))
		}
		if c := counts(s.lookup, 3); c[0]+c[1]+c[2] != want || min(c[0], c[1], c[2]) < want/3-1 {
			t.Fatalf("TableSize %d: entries per server %v", size, c[:3])
		}
	}
	for n, ok := range map[int]bool{251: true, 4093: true, 65537: true, 131071: true, 0: false, 2: false, 241: false, 4095: false, 4096: false, 131101: false, -7: false} {
		if err := CheckMHSize(n); (err == nil) != ok {
			t.Errorf("CheckMHSize(%d) = %v", n, err)
		}
	}
}
