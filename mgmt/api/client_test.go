package api

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestSplit: the parts of a large change each fit in a request, in order, none empty.
func TestSplit(t *testing.T) {
	var cmds []model.Command
	for i := range 20000 {
		cmds = append(cmds, model.Command{Op: model.OpAddServer, HasService: true,
			Service: model.ServiceSpec{ServiceKey: model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: uint16(1000 + i/80)}},
			Server:  model.RealServerSpec{Address: netip.MustParseAddr(fmt.Sprintf("198.19.%d.%d", i/250, i%250+1)), Port: 8080, Forward: model.Masq, Weight: 1}})
	}
	for _, n := range []int{1, 2, 100, 20000} {
		parts, err := split(cmds[:n], MaxRequestSize-256)
		if err != nil {
			t.Fatal(err)
		}
		if n < 1000 && len(parts) != 1 {
			t.Errorf("%d commands in %d parts", n, len(parts))
		}
		if n == 20000 && len(parts) < 3 {
			t.Errorf("%d commands in %d parts", n, len(parts))
		}
		i := 0
		for _, p := range parts {
			b, _ := json.Marshal(&Request{V: ProtocolVersion, More: true, Commands: p})
			if len(b) > MaxRequestSize || len(p) == 0 {
				t.Errorf("%d commands: a part of %d commands, %d bytes", n, len(p), len(b))
			}
			for j := range p {
				if p[j].Server != cmds[i].Server || p[j].Service.ServiceKey != cmds[i].Service.ServiceKey {
					t.Fatalf("%d commands: command %d out of place", n, i)
				}
				i++
			}
		}
		if i != n {
			t.Errorf("%d commands: %d in the parts", n, i)
		}
	}
}

// TestBatchOldDaemon: a daemon without batches refuses the empty request that opens one, and the
// client stops there: no part of a large change is sent, so none is applied alone.
func TestBatchOldDaemon(t *testing.T) {
	var requests []Request
	cl := &Client{Socket: "old.sock", Dial: func(string) (net.Conn, error) {
		c, srv := net.Pipe()
		go func() {
			defer srv.Close()
			for {
				var req Request
				if err := ReadFrame(srv, &req, MaxRequestSize); err != nil {
					return
				}
				requests = append(requests, req)
				resp := &Response{V: ProtocolVersion}
				if len(req.Commands) == 0 {
					resp.Error = "empty request" // what a daemon that ignores More answers
				}
				if WriteFrame(srv, resp) != nil {
					return
				}
			}
		}()
		return c, nil
	}}
	cmds := make([]model.Command, 10000)
	for i := range cmds {
		cmds[i] = model.Command{Op: model.OpAddService, HasService: true, Service: model.ServiceSpec{
			ServiceKey: model.ServiceKey{Protocol: model.TCP, Address: netip.MustParseAddr("198.18.0.10"), Port: uint16(i + 1)}}}
	}
	resp, err := cl.Batch(cmds)
	if err == nil || !strings.Contains(err.Error(), "is it older than xdpvsadm?") || resp != nil {
		t.Errorf("Batch: %v, %+v", err, resp)
	}
	if len(requests) != 1 || len(requests[0].Commands) != 0 || !requests[0].More {
		t.Errorf("sent %d requests", len(requests))
	}
}
