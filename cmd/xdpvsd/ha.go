package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/announce"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// Active/standby (--ha, docs/active-standby.md): keepalived moves the addresses and calls
// xdpvsadm ha role; the daemon starts on standby, unless keepalived already holds one of the
// configuration's VIPs or local addresses on an interface here (the daemon restarted under a
// keepalived that is master, which will not call its notify script again), and is ready when
// its dataplane is attached with every worker alive.

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

// claimHeld makes the director master at start if an address of its configuration (a VIP, a
// local address) is already on one of its interfaces: keepalived put it there.
func claimHeld(srv *server.Server, log *zap.Logger) {
	held, err := localAddrs()
	if err != nil {
		log.Warn("ha: interface addresses not read; standing by until keepalived says master", zap.Error(err))
		return
	}
	st := srv.Listing()
	for _, s := range st.Services {
		for _, a := range append([]netip.Addr{s.Address}, s.LocalAddrs...) {
			if held[a.Unmap()] {
				reason := fmt.Sprintf("start: %s is on an interface (keepalived holds it here)", a)
				if err := srv.SetRole(api.HAMaster, reason); err != nil {
					log.Error("ha: not master at start", zap.Error(err))
				}
				return
			}
		}
	}
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
