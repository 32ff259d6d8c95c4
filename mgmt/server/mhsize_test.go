package server

import (
	"strings"
	"testing"
)

// TestMHSize: -b mh-size=N reaches the dataplane's snapshot, -L shows it among the flags, -S
// writes it so that -R restores it, and a size that is no prime in bounds, or one given to another
// scheduler, is refused with the rule.
func TestMHSize(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80", "-s", "mh", "-b", "mh-port,mh-size=8191")
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:81", "-s", "mh")
	got := map[uint16]int{}
	for _, s := range ts.fake.last().Services {
		got[s.Key.Port] = s.MHSize
	}
	if got[80] != 8191 || got[81] != 0 {
		t.Fatalf("mh sizes in the snapshot: %v", got)
	}
	if out := ts.mustAdm(t, "-L", "-n"); !strings.Contains(out, "mh (mh-port,mh-size=8191)") {
		t.Fatalf("-L:\n%s", out)
	}
	saved := ts.mustAdm(t, "-S", "-n")
	if !strings.Contains(saved, "-A -t 198.18.0.10:80 -s mh -b mh-port,mh-size=8191\n") || !strings.Contains(saved, "-A -t 198.18.0.10:81 -s mh\n") {
		t.Fatalf("-S:\n%s", saved)
	}
	ts.mustAdm(t, "-C")
	if _, errOut, rc := ts.adm(t, saved, "-R"); rc != 0 {
		t.Fatalf("-R: %s", errOut)
	}
	if again := ts.mustAdm(t, "-S", "-n"); again != saved {
		t.Fatalf("-S after -R:\n%s\nwant\n%s", again, saved)
	}
	for _, bad := range [][]string{
		{"-s", "mh", "-b", "mh-size=4096"},
		{"-s", "mh", "-b", "mh-size=241"},
		{"-s", "mh", "-b", "mh-size=big"},
		{"-s", "sh", "-b", "mh-size=4093"},
	} {
		_, errOut, rc := ts.adm(t, "", append([]string{"-A", "-t", "198.18.0.10:82"}, bad...)...)
		if rc == 0 || !strings.Contains(errOut, "flag") {
			t.Errorf("%v accepted (rc %d): %s", bad, rc, errOut)
		}
	}
}
