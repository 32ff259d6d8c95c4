package server

import (
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/cli"
)

// TestPolicy: --policy reaches the dataplane's snapshot, -S writes it so -R restores it, and a bad
// word is refused.
func TestPolicy(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80", "-s", "rr", "--policy", "keep-removed-conns,persist-quiescent")
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:81", "-s", "rr")
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:83", "-s", "mh", "--policy", "no-sloppy")
	snap := ts.fake.last()
	got := map[uint16]control.BackendPolicy{}
	for _, s := range snap.Services {
		got[s.Key.Port] = s.Policy
	}
	if got[80] != control.KeepRemovedConns|control.PersistToQuiescent || got[81] != 0 || got[83] != control.NoSloppy {
		t.Fatalf("policies in the snapshot: %v", got)
	}
	saved := ts.mustAdm(t, "-S", "-n")
	if !strings.Contains(saved, "-A -t 198.18.0.10:80 -s rr --policy keep-removed-conns,persist-quiescent\n") ||
		!strings.Contains(saved, "-A -t 198.18.0.10:83 -s mh --policy no-sloppy\n") ||
		strings.Contains(strings.SplitN(strings.SplitN(saved, "198.18.0.10:81", 2)[1], "\n", 2)[0], "--policy") {
		t.Fatalf("-S:\n%s", saved)
	}
	ts.mustAdm(t, "-C")
	if _, errOut, rc := ts.adm(t, saved, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errOut)
	}
	if again := ts.mustAdm(t, "-S", "-n"); again != saved {
		t.Fatalf("-S after -R:\n%s\nwant\n%s", again, saved)
	}
	if _, errOut, rc := ts.adm(t, "", "-A", "-t", "198.18.0.10:82", "--policy", "sticky"); rc == 0 || !strings.Contains(errOut, "invalid policy") {
		t.Fatalf("bad policy accepted (rc %d): %s", rc, errOut)
	}
	if p, err := cli.ParsePolicy("no-conn-reuse"); err != nil || cli.PolicyString(p) != "no-conn-reuse" {
		t.Fatalf("ParsePolicy/PolicyString: %v %v", p, err)
	}
}
