package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"testing"

	"github.com/xdpvs/xdpvs/internal/topo"
	"github.com/xdpvs/xdpvs/toa/rs"
)

type connKey struct{}

// serveTOA serves HTTP on addr in the real server's namespace, answering every request with the
// client that rs's table (the agent's TOA records) gives for its connection, and the peer the
// kernel sees.
func serveTOA(t *testing.T, e *env, i int, addr netip.AddrPort, table *rs.Table) {
	t.Helper()
	var ln net.Listener
	if err := e.nat.RS[i].Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := r.Context().Value(connKey{}).(net.Conn)
			client, ok := table.ClientAddr(c)
			fmt.Fprintf(w, "%v %v %s", ok, client, c.RemoteAddr())
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestTOA: an HTTP real server behind FULLNAT learns the true client address and port of every
// request through toa/rs (the xdpvs-rs agent reading the TOA option), over IPv4 and IPv6, while
// the kernel sees the connections come from the local address.
func TestTOA(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		fam, lip, vip, rsAddr := "v4", lip4, topo.VIP4, topo.RS4
		if v6 {
			fam, lip, vip, rsAddr = "v6", lip6, topo.VIP6, topo.RS6
		}
		t.Run(fam, func(t *testing.T) {
			e := newEnv(t, "toa"+fam, 1)
			svc := netip.AddrPortFrom(netip.MustParseAddr(vip), 81).String()
			e.adm1("-A", "-t", svc, "-s", "rr")
			e.adm1("--add-laddr", "-z", lip, "-t", svc)
			for i := range e.nat.RS {
				a, err := topo.StartAgent(e.nat.RS[i], binaries(t).agent, "--iface", "r0", "--toa")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Stop() })
				table, err := rs.Open(a.Pin)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { table.Close() })
				addr := netip.AddrPortFrom(netip.MustParseAddr(rsAddr(i)), 8081)
				serveTOA(t, e, i, addr, table)
				e.adm1("-a", "-t", svc, "-r", addr.String(), "-b")
			}
			for n := range 50 {
				var local net.Addr
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr() },
				})
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+svc+"/", nil)
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", n, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var ok bool
				var client, peer string
				fmt.Sscan(string(body), &ok, &client, &peer)
				want := netip.MustParseAddrPort(local.String())
				if !ok || client != want.String() {
					t.Fatalf("request %d: the real server's TOA client is %q (found %v), want %v", n, client, ok, want)
				}
				if p, err := netip.ParseAddrPort(peer); err != nil || p.Addr() != netip.MustParseAddr(lip) {
					t.Fatalf("request %d: the kernel's peer is %q, want the local address %s", n, peer, lip)
				}
			}
		})
	}
}
