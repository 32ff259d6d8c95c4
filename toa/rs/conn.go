package rs

import (
	"context"
	"net"
	"net/netip"
)

func connAddrs(conn net.Conn) (local, remote netip.AddrPort, ok bool) {
	l, ok1 := conn.LocalAddr().(*net.TCPAddr)
	r, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || l == nil || r == nil {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	return l.AddrPort(), r.AddrPort(), true
}

type ctxKey struct{}

// ConnContext is an http.Server ConnContext hook: it looks the accepted connection up once and keeps
// the client in the context of every request on it, for ClientFromContext.
//
//	srv := &http.Server{Handler: h, ConnContext: rs.ConnContext}
func ConnContext(ctx context.Context, conn net.Conn) context.Context {
	if c, ok := ClientAddr(conn); ok {
		return context.WithValue(ctx, ctxKey{}, c)
	}
	return ctx
}

// ClientFromContext returns the client ConnContext stored, if any.
func ClientFromContext(ctx context.Context) (netip.AddrPort, bool) {
	c, ok := ctx.Value(ctxKey{}).(netip.AddrPort)
	return c, ok
}
