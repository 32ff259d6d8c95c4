package server

import (
	"net/netip"
	"strings"
	"testing"
)

// TestImportKeepalivedApply: import-keepalived --apply of a real configuration (DPVS's
// containerized example: FULLNAT, local addresses on an interface, TCP checks with
// inhibit_on_failure, conhash) gives the daemon what the import prints, as one change.
func TestImportKeepalivedApply(t *testing.T) {
	ts := newTestServer(t, Config{Control: &fakeControl{ifaces: map[string][]netip.Addr{"dpdk0.102": nil}}})
	const conf = "../cli/testdata/keepalived/dpvs.containerized.keepalived.conf"
	printed, _, rc := ts.adm(t, "", "import-keepalived", conf)
	if rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	n := ts.fake.applied()
	if _, errs, rc := ts.adm(t, "", "import-keepalived", conf, "--apply"); rc != 0 {
		t.Fatalf("--apply: rc %d: %s", rc, errs)
	}
	if got := ts.fake.applied() - n; got != 1 {
		t.Errorf("--apply made %d changes, want 1", got)
	}
	saved := ts.mustAdm(t, "-S", "--nosort")
	var want []string
	for _, l := range strings.Split(printed, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	for _, l := range want {
		if !strings.Contains(saved, l+"\n") {
			t.Errorf("-S after --apply has no %q:\n%s", l, saved)
		}
	}
	if _, errs, rc := ts.adm(t, "", "import-keepalived", conf, "--apply"); rc != 1 || !strings.Contains(errs, "nothing applied") {
		t.Errorf("a second --apply (services exist): rc %d %q", rc, errs)
	}
}
