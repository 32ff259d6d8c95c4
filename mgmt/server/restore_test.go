package server

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// largeRules is a configuration of services×perService real servers (-S format, services and
// servers in sorted order), far more than one request's MaxRequestSize.
func largeRules(services, perService int) string {
	var b strings.Builder
	for i := range services {
		svc := fmt.Sprintf("-t 198.18.0.10:%d", 1000+i)
		fmt.Fprintf(&b, "-A %s -s wrr\n", svc)
		for j := range perService {
			k := i*perService + j
			fmt.Fprintf(&b, "-a %s -r 198.19.%d.%d:8080 -m -w %d\n", svc, k/250, k%250+1, 1+k%7)
		}
	}
	return b.String()
}

// TestRestoreLarge: -S | -R of 20,000 real servers over 250 services gives back the same -S, each
// -R as one change (its requests are a batch: one Apply).
func TestRestoreLarge(t *testing.T) {
	ts := newTestServer(t, Config{})
	rules := largeRules(250, 80)
	restore := func(in string) {
		t.Helper()
		n := ts.fake.applied()
		if _, errs, rc := ts.adm(t, in, "-R"); rc != 0 {
			t.Fatalf("-R: rc %d %s", rc, errs)
		}
		if got := ts.fake.applied() - n; got != 1 {
			t.Errorf("-R applied %d snapshots, want 1", got)
		}
	}
	restore(rules)
	saved := ts.mustAdm(t, "-S")
	if n := strings.Count(saved, "\n-a "); n != 20000 {
		t.Fatalf("-S has %d real servers", n)
	}
	if saved != rules {
		t.Errorf("-S differs from the rules restored")
	}
	ts.mustAdm(t, "-C")
	if out := ts.mustAdm(t, "-S"); out != "" {
		t.Fatalf("-S after -C: %q", out)
	}
	restore(saved)
	if again := ts.mustAdm(t, "-S"); again != saved {
		t.Errorf("-S after -S, -C, -R differs")
	}
	if sn := ts.fake.last(); len(sn.Services) != 250 || len(sn.Services[249].RealServers) != 80 {
		t.Errorf("snapshot: %d services", len(sn.Services))
	}
}

// TestRestoreAtomic: a large -R that fails anywhere, or whose client goes away before the end,
// changes nothing.
func TestRestoreAtomic(t *testing.T) {
	const maxBatch = 20000
	ts := newTestServer(t, Config{maxBatch: maxBatch})
	ts.mustLines(t, "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m")
	before, n := ts.mustAdm(t, "-S"), ts.fake.applied()
	unchanged := func(what string) {
		t.Helper()
		if ts.fake.applied() != n || ts.mustAdm(t, "-S") != before {
			t.Errorf("%s changed the configuration", what)
		}
	}
	rules := largeRules(60, 100)
	lines := strings.Count(rules, "\n")
	cmds, err := cli.ParseRules(strings.NewReader(rules), "rules")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(cmds); len(b) <= api.MaxRequestSize {
		t.Fatalf("the rules fit in one request (%d bytes)", len(b))
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		// The last line fails: the first parts were held, not applied.
		{"last_line", rules + "-a -t 198.18.0.10:1000 -r 198.19.0.1:8080 -m\n", fmt.Sprintf("stdin:%d: Destination already exists\nnothing restored\n", lines+1)},
		// The third line fails: the error names it after the whole batch has arrived.
		{"third_line", "-A -t 198.18.0.11:80\n\n-a -t 198.18.0.12:80 -r 198.18.1.2\n" + rules, "stdin:3: Service not defined\nnothing restored\n"},
		// The service of the current configuration conflicts at the end.
		{"existing", rules + "-A -t 198.18.0.10:80 -s rr\n", fmt.Sprintf("stdin:%d: Service already exists\nnothing restored\n", lines+1)},
	} {
		_, errs, rc := ts.adm(t, tc.in, "-R")
		if rc != 1 || errs != tc.want {
			t.Errorf("%s: rc %d %q, want %q", tc.name, rc, errs, tc.want)
		}
		unchanged(tc.name)
	}

	exchange := func(c net.Conn, req *api.Request) *api.Response {
		t.Helper()
		req.V = api.ProtocolVersion
		if err := api.WriteFrame(c, req); err != nil {
			t.Fatal(err)
		}
		var resp api.Response
		if err := api.ReadFrame(c, &resp, api.MaxResponseSize); err != nil {
			t.Fatal(err)
		}
		return &resp
	}
	dial := func() net.Conn {
		c, err := net.Dial("unix", ts.sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c
	}
	// A client that goes away mid-batch.
	c := dial()
	exchange(c, &api.Request{More: true})
	if r := exchange(c, &api.Request{More: true, Commands: cmds[:500]}); r.Error != "" || r.Pending != 500 {
		t.Fatalf("part: %+v", r)
	}
	c.Close()
	time.Sleep(50 * time.Millisecond)
	unchanged("a client gone mid-batch")
	// A listing in a batch is refused and discards it; the connection then serves as before.
	c = dial()
	defer c.Close()
	exchange(c, &api.Request{More: true, Commands: cmds[:10]})
	if r := exchange(c, &api.Request{Commands: []model.Command{{Op: model.OpList}}}); r.Error != `command "list" cannot be combined with others` || r.Index != 11 {
		t.Errorf("listing in a batch: %+v", r)
	}
	if r := exchange(c, &api.Request{Commands: []model.Command{{Op: model.OpSave}}}); r.Error != "" || len(r.State.Services) != 1 {
		t.Errorf("after a discarded batch: %+v", r)
	}
	unchanged("a discarded batch")
	// A batch is refused, and discarded, when it grows past its bound (api.MaxBatchCommands).
	exchange(c, &api.Request{More: true})
	part := cmds[:2000]
	for held := 0; ; held += len(part) {
		r := exchange(c, &api.Request{More: true, Commands: part})
		over := held+len(part) > maxBatch
		if over != (r.Error != "") {
			t.Fatalf("%d + %d commands held: %+v", held, len(part), r)
		}
		if over {
			if want := fmt.Sprintf("a change of more than %d commands", maxBatch); r.Error != want {
				t.Errorf("too large: %q, want %q", r.Error, want)
			}
			break
		}
	}
	if r := exchange(c, &api.Request{Commands: cmds[:1]}); r.Error != "" {
		t.Errorf("a change after the discarded batch: %+v", r)
	}
	n++
	if sn := ts.fake.last(); ts.fake.applied() != n || len(sn.Services) != 2 {
		t.Errorf("the change after the discarded batch: %d services", len(sn.Services))
	}
}
