package model

import (
	"errors"
	"fmt"
	"net/netip"
)

// Exec applies one changing command to m. It returns an error with ipvsadm's wording and leaves m
// partly changed on error: callers run it on a Clone.
func (m *Model) Exec(c *Command) error {
	switch c.Op {
	case OpAddService, OpEditService:
		spec := c.Service
		spec.LocalAddrs = nil
		if err := checkServiceSpec(&spec); err != nil {
			return err
		}
		i := m.find(spec.ServiceKey)
		if c.Op == OpAddService {
			if i >= 0 {
				return ErrServiceExists
			}
			m.services = append(m.services, &Service{ServiceSpec: spec})
			return nil
		}
		if i < 0 {
			return ErrNoService
		}
		s := m.services[i]
		spec.LocalAddrs = s.LocalAddrs
		s.ServiceSpec = spec
		for j := range s.Dests {
			if err := checkDest(s, &s.Dests[j]); err != nil {
				return err
			}
		}
		return checkHealthSpec(s, &s.Health)
	case OpDelService:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		m.services = append(m.services[:i], m.services[i+1:]...)
		return nil
	case OpFlush:
		m.services = nil
		return nil
	case OpAddServer, OpEditServer, OpDelServer:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrServiceNotDefined
		}
		s := m.services[i]
		d := c.Server
		j := s.FindDest(d.Address, d.Port)
		if c.Op != OpDelServer && s.Health.Sorry.IsValid() && s.Health.Sorry == netip.AddrPortFrom(d.Address, d.Port) {
			return errors.New("the real server is the service's sorry server (--health --sorry)")
		}
		switch c.Op {
		case OpAddServer:
			if j >= 0 {
				return ErrDestExists
			}
			if err := checkDest(s, &d); err != nil {
				return err
			}
			s.Dests = append(s.Dests, d)
		case OpEditServer:
			if j < 0 {
				return ErrNoDest
			}
			if err := checkDest(s, &d); err != nil {
				return err
			}
			s.Dests[j] = d
		case OpDelServer:
			if j < 0 {
				return ErrNoDest
			}
			s.Dests = append(s.Dests[:j], s.Dests[j+1:]...)
		}
		return nil
	case OpHealth:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		var h HealthSpec
		if c.Health != nil {
			h = *c.Health
		}
		h.FillDefaults()
		if err := checkHealthSpec(m.services[i], &h); err != nil {
			return err
		}
		m.services[i].Health = h
		return nil
	case OpSet:
		t := c.Timeouts
		for _, v := range []uint32{t.TCP, t.TCPFin, t.UDP} {
			if v > MaxTimeout {
				return fmt.Errorf("invalid timeout value `%d' specified", v)
			}
		}
		// As in IPVS, zero leaves a timeout as it is.
		if t.TCP != 0 {
			m.timeouts.TCP = t.TCP
		}
		if t.TCPFin != 0 {
			m.timeouts.TCPFin = t.TCPFin
		}
		if t.UDP != 0 {
			m.timeouts.UDP = t.UDP
		}
		return nil
	case OpAddLaddr, OpDelLaddr:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		if err := checkUnicast("local", c.LocalAddr); err != nil {
			return err
		}
		s := m.services[i]
		k := -1
		for j, a := range s.LocalAddrs {
			if a == c.LocalAddr {
				k = j
			}
		}
		if c.Op == OpAddLaddr {
			if k >= 0 {
				return ErrLaddrExists
			}
			s.LocalAddrs = append(s.LocalAddrs, c.LocalAddr)
		} else {
			if k < 0 {
				return ErrNoLaddr
			}
			s.LocalAddrs = append(s.LocalAddrs[:k], s.LocalAddrs[k+1:]...)
		}
		return nil
	}
	return fmt.Errorf("command %q does not change the configuration", c.Op)
}
