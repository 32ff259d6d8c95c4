package health

import (
	"context"
	"net"
	"net/netip"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Checker probes one real server. Check returns nil when the server is healthy, else the reason.
// ctx carries the check's timeout.
type Checker interface {
	Check(ctx context.Context, target netip.AddrPort) error
	String() string
}

// New builds the Checker of a spec for the real servers of service svc; dial opens the
// connections of the tcp, http, https and udp checks, scripts is where a script check's program
// must be (checked at every run). It returns nil for a spec without a check.
func New(h *model.HealthSpec, svc model.ServiceKey, dial DialFunc, scripts ScriptDir) Checker {
	switch h.Check {
	case model.CheckTCP:
		return &tcpChecker{dial: dial}
	case model.CheckHTTP, model.CheckHTTPS:
		return newHTTPChecker(h, dial)
	case model.CheckUDP:
		return &udpChecker{dial: dial, send: []byte(h.Send), receive: h.Receive}
	case model.CheckScript:
		return &scriptChecker{path: h.Script, svc: svc, dir: scripts}
	}
	return nil
}

// DialFunc opens a connection, as net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DefaultDial is a net.Dialer's DialContext: checks leave from the director's own addresses.
func DefaultDial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
