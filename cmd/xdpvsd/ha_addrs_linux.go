package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// followAddrs makes a director on standby master as soon as an address of its configuration (a
// VIP, a local address) appears on one of its interfaces: keepalived adds the addresses, sends
// its gratuitous ARPs and only then runs its notify script, so that the daemon forwards from the
// moment traffic can arrive instead of a few milliseconds later, in which a synced connection's
// retransmission would be dropped (the notify script still comes and changes nothing). Going back
// to standby is the notify script's alone. It follows until stop is closed.
func followAddrs(srv *server.Server, log *zap.Logger, stop <-chan struct{}) error {
	ch := make(chan netlink.AddrUpdate, 256)
	if err := netlink.AddrSubscribeWithOptions(ch, stop, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) { log.Warn("ha: address notifications", zap.Error(err)) },
	}); err != nil {
		return fmt.Errorf("ha: subscribe to addresses: %w", err)
	}
	go func() {
		for u := range ch {
			a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !u.NewAddr || !ok || srv.Standby() == "" || !configured(srv, a.Unmap()) {
				continue
			}
			ifname := fmt.Sprint(u.LinkIndex)
			if ifc, err := net.InterfaceByIndex(u.LinkIndex); err == nil {
				ifname = ifc.Name
			}
			if err := srv.SetRole(api.HAMaster, fmt.Sprintf("%s appeared on %s (keepalived moved it here)", a.Unmap(), ifname)); err != nil {
				log.Error("ha: not master on the address's arrival", zap.Error(err))
			}
		}
	}()
	return nil
}
