package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// lastStandby tells of the snapshot the fake dataplane last applied whether it is on standby, and
// its number of services.
func (f *fakeControl) lastStandby() (standby bool, services int) {
	s := f.last()
	return s.Standby, len(s.Services)
}

// TestHARole: with --ha the director starts as told (backup: the dataplane on standby), `ha role`
// switches the dataplane between forwarding and standing by, counts and lists the transitions,
// takes keepalived's capitals, keeps the role across configuration changes, pokes the
// announcement policy, and refuses what is not a role; without --ha it is refused and the
// dataplane forwards.
func TestHARole(t *testing.T) {
	fa := &fakeAnnouncer{}
	ts := newTestServer(t, Config{HA: &HAConfig{Role: api.HABackup, Reason: "start: no VIP on an interface"}, Announcer: fa})
	if sb, _ := ts.fake.lastStandby(); !sb {
		t.Fatal("started as backup, the dataplane is not on standby")
	}
	if r := ts.Standby(); r != "ha role backup" {
		t.Errorf("Standby() = %q, want the role", r)
	}
	ts.mustAdm(t, "-A", "-t", "198.18.0.10:80")
	if sb, n := ts.fake.lastStandby(); !sb || n != 1 {
		t.Fatalf("a change while backup: standby %v, %d services; want the change on standby", sb, n)
	}
	ts.mustAdm(t, "ha", "role", "MASTER")
	if sb, n := ts.fake.lastStandby(); sb || n != 1 {
		t.Fatalf("master: standby %v, %d services", sb, n)
	}
	if r := ts.Standby(); r != "" {
		t.Errorf("Standby() = %q as master", r)
	}
	ts.mustAdm(t, "ha", "role", "master") // no change
	ts.mustAdm(t, "ha", "role", "fault")
	if sb, _ := ts.fake.lastStandby(); !sb {
		t.Fatal("fault: the dataplane forwards")
	}
	var js struct{ HA api.HAState }
	if err := json.Unmarshal([]byte(ts.mustAdm(t, "show", "ha", "-o", "json")), &js); err != nil {
		t.Fatal(err)
	}
	h := js.HA
	if !h.Enabled || h.Role != api.HAFault || h.Forwarding || h.Transitions != 2 || len(h.History) != 2 ||
		h.History[0].From != api.HABackup || h.History[0].To != api.HAMaster || h.History[1].To != api.HAFault || !h.Ready {
		t.Errorf("show ha -o json: %+v", h)
	}
	out := ts.mustAdm(t, "show", "ha")
	for _, want := range []string{"Role: fault since", "xdpvsadm ha role fault", "standing by", "2 transitions", "Ready: yes", "backup  master"} {
		if !strings.Contains(out, want) {
			t.Errorf("show ha lacks %q:\n%s", want, out)
		}
	}
	fa.mu.Lock()
	if fa.pokes < 3 { // the -A and two changes of role
		t.Errorf("%d pokes of the announcer", fa.pokes)
	}
	fa.mu.Unlock()

	// A role the dataplane refuses is not taken.
	ts.fake.failApply(errors.New("no"))
	if _, errOut, rc := ts.adm(t, "", "ha", "role", "master"); rc != 1 || !strings.Contains(errOut, "still fault") {
		t.Errorf("refused master: rc %d, %s", rc, errOut)
	}
	if h := ts.HA(); h.Role != api.HAFault || h.Transitions != 2 {
		t.Errorf("after a refused role: %s, %d transitions", h.Role, h.Transitions)
	}
	if sb, _ := ts.fake.lastStandby(); !sb {
		t.Error("after a refused master the dataplane forwards")
	}
	for _, args := range [][]string{{"ha"}, {"ha", "role"}, {"ha", "role", "primary"}, {"ha", "ready", "now"}, {"ha", "status"}} {
		if _, errOut, rc := ts.adm(t, "", args...); rc != 2 || !strings.Contains(errOut, "ha role master|backup|fault") {
			t.Errorf("%s: rc %d, %s", strings.Join(args, " "), rc, errOut)
		}
	}

	// A local address the daemon would put on an interface itself fights keepalived: a warning.
	ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.2:80", "-b")
	if _, errOut, rc := ts.adm(t, "", "--add-laddr", "-z", "198.18.1.100", "-t", "198.18.0.10:80", "-F", "d1"); rc != 0 || !strings.Contains(errOut, "warning: --add-laddr -F d1 with --ha") {
		t.Errorf("--add-laddr -F with --ha: rc %d, %q", rc, errOut)
	}
	if _, errOut, rc := ts.adm(t, "", "--add-laddr", "-z", "198.18.1.101", "-t", "198.18.0.10:80"); rc != 0 || errOut != "" {
		t.Errorf("--add-laddr without -F with --ha: rc %d, %q", rc, errOut)
	}

	plain := newTestServer(t, Config{})
	if sb, _ := plain.fake.lastStandby(); sb {
		t.Error("without --ha the dataplane is on standby")
	}
	if _, errOut, rc := plain.adm(t, "", "ha", "role", "backup"); rc != 1 || !strings.Contains(errOut, "without --ha") {
		t.Errorf("ha role without --ha: rc %d, %s", rc, errOut)
	}
	if out := plain.mustAdm(t, "show", "ha"); !strings.Contains(out, "standalone (xdpvsd without --ha), forwarding") {
		t.Errorf("show ha without --ha:\n%s", out)
	}
}

// TestHAReady: ha ready asks every readiness condition in order and answers with the first that
// fails, in one line and exit status 1; 0 once all hold. The role does not enter it.
func TestHAReady(t *testing.T) {
	var synced, attached error = errors.New("bulk sync from 198.18.0.2: 120 of 300 connections"), nil
	ts := newTestServer(t, Config{HA: &HAConfig{Role: api.HABackup}, Readiness: []Readiness{
		ReadinessFunc(func() error { return attached }), ReadinessFunc(func() error { return synced })}})
	out, errOut, rc := ts.adm(t, "", "ha", "ready")
	if rc != 1 || out != "" || errOut != "not ready: bulk sync from 198.18.0.2: 120 of 300 connections\n" {
		t.Errorf("ha ready during the sync: rc %d, %q %q", rc, out, errOut)
	}
	attached = errors.New("steering program not attached to d0")
	if _, errOut, rc := ts.adm(t, "", "ha", "ready"); rc != 1 || !strings.Contains(errOut, "not attached to d0") {
		t.Errorf("ha ready detached: rc %d, %q", rc, errOut)
	}
	if h := ts.HA(); h.Ready || h.NotReady != "steering program not attached to d0" {
		t.Errorf("show ha: ready %v, %q", h.Ready, h.NotReady)
	}
	attached, synced = nil, nil
	if _, errOut, rc := ts.adm(t, "", "ha", "ready"); rc != 0 {
		t.Errorf("ha ready: rc %d, %s", rc, errOut)
	}
}

// fakeSyncer is a connection sync whose bulk copy is done when ready says so.
type fakeSyncer struct{ ready bool }

func (f *fakeSyncer) Sync() *api.SyncState {
	return &api.SyncState{Ready: f.ready, Join: map[bool]string{false: "waiting", true: "done"}[f.ready]}
}
func (f *fakeSyncer) Ready() bool { return f.ready }

// TestHAReadySync: ha ready waits for the connection sync's bulk copy, after the daemon's own
// conditions.
func TestHAReadySync(t *testing.T) {
	sy := &fakeSyncer{}
	ts := newTestServer(t, Config{HA: &HAConfig{Role: api.HABackup}, Sync: sy})
	if _, errOut, rc := ts.adm(t, "", "ha", "ready"); rc != 1 || errOut != "not ready: connection sync: the bulk copy from the peers is not done (waiting)\n" {
		t.Errorf("ha ready during the bulk copy: rc %d, %q", rc, errOut)
	}
	sy.ready = true
	if _, errOut, rc := ts.adm(t, "", "ha", "ready"); rc != 0 {
		t.Errorf("ha ready after the bulk copy: rc %d, %q", rc, errOut)
	}
}
