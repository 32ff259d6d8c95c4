package server

import (
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// manyConns returns n distinct connections, a fifth of them FULLNAT (with a local address).
func manyConns(n int) []control.ConnInfo {
	cs := make([]control.ConnInfo, n)
	for i := range cs {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
		cs[i] = control.ConnInfo{Proto: 6, Client: c, Virtual: ap("198.18.0.10:80"), Dest: ap("198.18.1.2:8080"),
			State: "ESTABLISHED", Expires: time.Duration(i%900) * time.Second}
		if i%5 == 0 {
			cs[i].Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 2, 1}), uint16(1025+i%60000))
		}
	}
	return cs
}

// frames sends req on a connection of its own and reads every frame of the answer, with its size.
func frames(t *testing.T, ts *testServer, req *api.Request) ([]*api.Response, []int) {
	t.Helper()
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req.V = api.ProtocolVersion
	if err := api.WriteFrame(c, req); err != nil {
		t.Fatal(err)
	}
	var out []*api.Response
	var sizes []int
	for {
		var raw sizeReader
		raw.r = c
		var r api.Response
		if err := api.ReadFrame(&raw, &r, api.MaxResponseSize); err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out, sizes = append(out, &r), append(sizes, raw.n)
		if !r.More {
			return out, sizes
		}
	}
}

type sizeReader struct {
	r net.Conn
	n int
}

func (s *sizeReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	s.n += n
	return n, err
}

// TestConnectionListingInParts: -Lnc of 100,000 connections (20,000 with -race) lists every one,
// well formed; the daemon sends them in parts as the dataplane lists them (a part per batch,
// none above 1 MiB) instead of one response it must build whole (20 MB here, 256 MiB at most),
// and a client without parts still gets one response.
func TestConnectionListingInParts(t *testing.T) {
	ts := newTestServer(t, Config{})
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	ts.fake.conns, ts.fake.batch = manyConns(n), 512

	out := ts.mustAdm(t, "-Lnc")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n+2 || lines[0] != "IPVS connection entries" || !strings.HasPrefix(lines[1], "pro expire state       source") {
		t.Fatalf("%d lines, want %d; head:\n%s", len(lines), n+2, strings.Join(lines[:min(3, len(lines))], "\n"))
	}
	row := regexp.MustCompile(`^TCP (\d\d:\d\d) +ESTABLISHED (198\.19\.\d+\.\d+:\d+) +198\.18\.0\.10:80 +(198\.18\.2\.1:\d+|-) +198\.18\.1\.2:8080$`)
	seen := make(map[string]bool, n)
	for i, l := range lines[2:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d malformed: %q", i+3, l)
		}
		if want := ts.fake.conns[i]; m[2] != want.Client.String() || (m[3] == "-") != !want.Local.IsValid() {
			t.Fatalf("line %d is %q, want connection %+v", i+3, l, want)
		}
		seen[m[2]] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct connections listed, want %d", len(seen), n)
	}

	cmd := model.Command{Op: model.OpList, List: model.ListOptions{Connections: true, Numeric: true}}
	parts, sizes := frames(t, ts, &api.Request{Parts: true, Commands: []model.Command{cmd}})
	got := 0
	for i, p := range parts {
		if sizes[i] > 1<<20 {
			t.Fatalf("part %d of %d bytes", i, sizes[i])
		}
		if p.State != nil {
			got += len(p.State.Connections)
		}
	}
	if want := 2 + (n+511)/512; len(parts) != want || got != n || parts[0].State == nil || parts[0].State.Services == nil {
		t.Fatalf("%d parts with %d connections, want %d parts (the listing, a part per batch, the end) with %d", len(parts), got, want, n)
	}
	whole, _ := frames(t, ts, &api.Request{Commands: []model.Command{cmd}})
	if len(whole) != 1 || len(whole[0].State.Connections) != n {
		t.Fatalf("without parts: %d responses", len(whole))
	}
}

// TestConnectionListingIncomplete: a listing the dataplane cannot finish (a worker did not answer)
// is an error, not a short listing that looks whole; so is a show connections.
func TestConnectionListingIncomplete(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.fake.conns = manyConns(10)
	ts.fake.connErr = errors.New("dataplane: worker 1 did not answer within 5s: the connection listing is incomplete")
	for _, args := range [][]string{{"-Lnc"}, {"show", "connections"}} {
		out, errs, rc := ts.adm(t, "", args...)
		if rc != 1 || !strings.Contains(errs, "worker 1 did not answer") || out != "" {
			t.Errorf("%v: rc %d, stdout %q, stderr %q", args, rc, out, errs)
		}
	}
	cmd := model.Command{Op: model.OpList, List: model.ListOptions{Connections: true}}
	if whole, _ := frames(t, ts, &api.Request{Commands: []model.Command{cmd}}); whole[0].Error == "" {
		t.Error("without parts: no error")
	}
}
