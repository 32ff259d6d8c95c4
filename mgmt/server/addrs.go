package server

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The interface addresses of the configuration: a local address given with `--add-laddr -F
// IFNAME` belongs on that interface of the director, as DPVS puts it there, so that the real
// servers on its link resolve it. The server adds each one that is missing (Control.AddAddress)
// before the change that needs it takes effect, removes it when no service needs it any more or
// when the daemon stops, and touches only those it added: an address the interface already had
// stays. A restart adds them again from the configuration file.

// ifAddr is an address on an interface.
type ifAddr struct {
	ifname string
	addr   netip.Addr
}

func (a ifAddr) String() string { return a.addr.String() + " on " + a.ifname }

// wanted lists the interface addresses of m, once each, in configuration order.
func wanted(m *model.Model) []ifAddr {
	var out []ifAddr
	seen := map[ifAddr]bool{}
	for _, s := range m.Services() {
		for _, l := range s.LocalAddrs {
			if ifname := s.LocalIfaces[l]; ifname != "" {
				if a := (ifAddr{ifname, l}); !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// addAddrs puts on their interfaces the addresses of next the server does not hold yet, and
// returns them (true: added by the server, false: the interface had it). On error it takes off
// again those it added and returns the address that failed. s.mu is held.
func (s *Server) addAddrs(next *model.Model) (map[ifAddr]bool, *ifAddr, error) {
	got := map[ifAddr]bool{}
	for _, a := range wanted(next) {
		if _, held := s.addrs[a]; held {
			continue
		}
		added, err := s.cfg.Control.AddAddress(a.ifname, a.addr)
		if err != nil {
			s.takeOff(got)
			return nil, &a, fmt.Errorf("local address %s: %w", a, err)
		}
		got[a] = added
	}
	return got, nil, nil
}

// takeOff removes the addresses of got the server added.
func (s *Server) takeOff(got map[ifAddr]bool) {
	for a, added := range got {
		if added {
			s.removeAddr(a)
		}
	}
}

// keepAddrs makes the addresses of m, with those just put on (got), the ones the server holds:
// the addresses it added that m no longer needs are removed. s.mu is held.
func (s *Server) keepAddrs(m *model.Model, got map[ifAddr]bool) {
	for a, added := range got {
		s.addrs[a] = added
		if added {
			s.log.Info("local address added to its interface", zap.Stringer("address", a))
		}
	}
	need := map[ifAddr]bool{}
	for _, a := range wanted(m) {
		need[a] = true
	}
	for a, added := range s.addrs {
		if !need[a] {
			delete(s.addrs, a)
			if added {
				s.removeAddr(a)
			}
		}
	}
}

// removeAddr takes a off its interface; a failure is logged (the configuration no longer has it).
func (s *Server) removeAddr(a ifAddr) {
	if err := s.cfg.Control.RemoveAddress(a.ifname, a.addr); err != nil {
		s.log.Warn("local address not removed from its interface", zap.Stringer("address", a), zap.Error(err))
		return
	}
	s.log.Info("local address removed from its interface", zap.Stringer("address", a))
}

// addrCommand is the 1-based index of the first command of cmds that gives a, 0 if none does.
func addrCommand(cmds []model.Command, a *ifAddr) int {
	for i := range cmds {
		if c := &cmds[i]; c.Op == model.OpAddLaddr && c.LocalAddr == a.addr && c.Ifname == a.ifname {
			return i + 1
		}
	}
	return 0
}
