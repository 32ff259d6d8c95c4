package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/announce"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// Active/standby (--ha, docs/active-standby.md): keepalived moves the addresses and calls
// xdpvsadm ha role; the daemon starts on standby, unless keepalived already holds one of the
// configuration's VIPs or local addresses on an interface here (the daemon restarted under a
// keepalived that is master, which will not call its notify script again), becomes master as
// soon as one arrives (followAddrs), and is ready when its dataplane is attached with every
// worker alive.

// haConfig is the server's active/standby configuration for --ha (nil without it).
func haConfig(on bool) *server.HAConfig {
	if !on {
		return nil
	}
	return &server.HAConfig{Role: api.HABackup, Reason: "start: standing by until keepalived says master"}
}

// dataplaneReady is the daemon's own condition of ha ready: the steering programs attached and
// every worker beating.
func dataplaneReady(live control.Liveness) server.Readiness {
	return server.ReadinessFunc(func() error {
		if why := announce.DataplaneDown(live.Liveness(), announce.DefaultStall); why != "" {
			return errors.New(why)
		}
		return nil
	})
}

// startHA follows the interfaces' addresses (followAddrs), then makes the director master if an
// address of its configuration (a VIP, a local address) is already on one of its interfaces:
// keepalived put it there. The returned function stops the following.
func startHA(srv *server.Server, log *zap.Logger) func() {
	stop := make(chan struct{})
	if err := followAddrs(srv, log, stop); err != nil {
		log.Warn("ha: the addresses' arrival is not followed; the notify scripts alone make the director master", zap.Error(err))
	}
	held, err := localAddrs()
	if err != nil {
		log.Warn("ha: interface addresses not read; standing by until keepalived says master", zap.Error(err))
		return func() { close(stop) }
	}
	for a := range held {
		if configured(srv, a) {
			reason := fmt.Sprintf("start: %s is on an interface (keepalived holds it here)", a)
			if err := srv.SetRole(api.HAMaster, reason); err != nil {
				log.Error("ha: not master at start", zap.Error(err))
			}
			break
		}
	}
	return func() { close(stop) }
}

// configured tells whether a is a VIP or a local address of the configuration.
func configured(srv *server.Server, a netip.Addr) bool {
	for _, s := range srv.Listing().Services {
		if s.Address.Unmap() == a || slices.ContainsFunc(s.LocalAddrs, func(l netip.Addr) bool { return l.Unmap() == a }) {
			return true
		}
	}
	return false
}

// localAddrs are the addresses of every interface of the host.
func localAddrs() (map[netip.Addr]bool, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]bool{}
	for _, a := range as {
		if p, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out, nil
}
