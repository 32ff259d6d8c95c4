package model

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Exec applies one changing command to m. It returns an error with ipvsadm's wording and leaves m
// partly changed on error: callers run it on a Clone. A command accepted with a part ignored, as
// DPVS ignores it (-j on a UDP service), returns that part's warning with a nil error.
func (m *Model) Exec(c *Command) (warning string, err error) {
	switch c.Op {
	case OpAddService, OpEditService:
		spec := c.Service
		if spec.SynProxy && spec.Protocol == UDP {
			// DPVS takes -j on any service and proxies only TCP; its scripts pass -j enable to
			// UDP services too (xdpvs refused them, and every later line of the service failed).
			spec.SynProxy = false
			warning = fmt.Sprintf("-j ignored: UDP %s: the SYN proxy is only for TCP virtual services", netip.AddrPortFrom(spec.Address, spec.Port))
		}
		if c.Op == OpAddService {
			return warning, m.addService(spec)
		}
		return warning, m.editService(spec)
	}
	return "", m.exec(c)
}

func (m *Model) exec(c *Command) error {
	switch c.Op {
	case OpDelService:
		i := m.find(c.Service.ServiceKey)
		if i < 0 {
			return ErrNoService
		}
		m.services = slices.Delete(m.services, i, i+1)
		return nil
	case OpFlush:
		m.services, m.marks = nil, nil // -C: the mark rules too, so that -C then -R restores a saved table
		return nil
	case OpAddMark, OpDelMark:
		return m.changeMark(c.Op, c.Mark)
	case OpAddServer, OpEditServer, OpDelServer:
		return m.changeServer(c.Op, c.Service.ServiceKey, c.Server)
	case OpHealth:
		return m.setHealth(c.Service.ServiceKey, c.Health)
	case OpSet:
		return m.setTimeouts(c.Timeouts)
	case OpDefense:
		return m.setDefense(c.Defense)
	case OpAddLaddr, OpDelLaddr:
		return m.changeLocalAddr(c.Op, c.Service.ServiceKey, c.LocalAddr, c.Ifname)
	}
	return fmt.Errorf("command %q does not change the configuration", c.Op)
}

// addService is -A: a new service, without real servers.
func (m *Model) addService(spec ServiceSpec) error {
	spec.LocalAddrs, spec.LocalIfaces = nil, nil
	if err := checkServiceSpec(&spec); err != nil {
		return err
	}
	if m.find(spec.ServiceKey) >= 0 {
		return ErrServiceExists
	}
	m.services = append(m.services, &Service{ServiceSpec: spec})
	return nil
}

// editService is -E: the service's attributes replaced (as ipvsadm: what is not given is reset),
// its real servers, local addresses and health check kept and checked again.
func (m *Model) editService(spec ServiceSpec) error {
	if err := checkServiceSpec(&spec); err != nil {
		return err
	}
	s := m.Find(spec.ServiceKey)
	if s == nil {
		return ErrNoService
	}
	spec.LocalAddrs, spec.LocalIfaces = s.LocalAddrs, s.LocalIfaces
	s.ServiceSpec = spec
	for j := range s.Dests {
		if err := checkDest(s, &s.Dests[j]); err != nil {
			return err
		}
	}
	return checkHealthSpec(s, &s.Health)
}

// changeServer is -a, -e and -d.
func (m *Model) changeServer(op Op, k ServiceKey, d RealServerSpec) error {
	s := m.Find(k)
	if s == nil {
		return ErrServiceNotDefined
	}
	j := s.FindDest(d.Address, d.Port)
	if op != OpDelServer && s.Health.Sorry.IsValid() && s.Health.Sorry == netip.AddrPortFrom(d.Address, d.Port) {
		return errors.New("the real server is the service's sorry server (--health --sorry)")
	}
	switch {
	case op == OpAddServer && j >= 0:
		return ErrDestExists
	case op != OpAddServer && j < 0:
		return ErrNoDest
	case op == OpDelServer:
		s.Dests = slices.Delete(s.Dests, j, j+1)
		return nil
	}
	if err := checkDest(s, &d); err != nil {
		return err
	}
	if op == OpAddServer {
		s.Dests = append(s.Dests, d)
	} else {
		s.Dests[j] = d
	}
	return nil
}

// setHealth is --health: the service's check replaced (nil or a zero Check: removed).
func (m *Model) setHealth(k ServiceKey, spec *HealthSpec) error {
	s := m.Find(k)
	if s == nil {
		return ErrNoService
	}
	var h HealthSpec
	if spec != nil {
		h = *spec
	}
	h.FillDefaults()
	if err := checkHealthSpec(s, &h); err != nil {
		return err
	}
	s.Health = h
	return nil
}

// setDefense is --defense: a mode, and for auto a threshold (0: the default).
func (m *Model) setDefense(d Defense) error {
	if !slices.Contains(DefenseModes, d.Mode) {
		return fmt.Errorf("invalid defense mode %q: want auto, always or off", d.Mode)
	}
	if d.Threshold == 0 {
		d.Threshold = DefaultDefense.Threshold
	}
	if d.Threshold < 1 || d.Threshold > 100 {
		return fmt.Errorf("invalid defense threshold %d%%: want 1 to 100", d.Threshold)
	}
	m.defense = d
	return nil
}

// setTimeouts is --set. As in IPVS, zero leaves a timeout as it is.
func (m *Model) setTimeouts(t Timeouts) error {
	for _, v := range []uint32{t.TCP, t.TCPFin, t.UDP} {
		if v > MaxTimeout {
			return fmt.Errorf("invalid timeout value `%d' specified", v)
		}
	}
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
}

// changeLocalAddr is --add-laddr and --del-laddr, with the interface of -F (which --del-laddr
// takes, as DPVS requires it there too, and ignores: the address leaves the interface it was put
// on).
func (m *Model) changeLocalAddr(op Op, k ServiceKey, a netip.Addr, ifname string) error {
	s := m.Find(k)
	if s == nil {
		return ErrNoService
	}
	if err := checkUnicast("local", a); err != nil {
		return err
	}
	if err := CheckIfname(ifname); err != nil {
		return err
	}
	i := slices.Index(s.LocalAddrs, a)
	switch {
	case op == OpAddLaddr && i >= 0:
		return ErrLaddrExists
	case op == OpAddLaddr:
		s.LocalAddrs = append(s.LocalAddrs, a)
		if ifname != "" {
			if s.LocalIfaces == nil {
				s.LocalIfaces = map[netip.Addr]string{}
			}
			s.LocalIfaces[a] = ifname
		}
	case i < 0:
		return ErrNoLaddr
	default:
		s.LocalAddrs = slices.Delete(s.LocalAddrs, i, i+1)
		delete(s.LocalIfaces, a)
		if len(s.LocalIfaces) == 0 {
			s.LocalIfaces = nil
		}
	}
	return nil
}

// CheckIfname checks an interface name as the kernel's dev_valid_name does ("" is none).
func CheckIfname(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/:") ||
		strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return fmt.Errorf("illegal interface name %q specified", name)
	}
	return nil
}
