package model

import (
	"net/netip"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// UpFunc tells whether a real server of a service is up, as its health check says.
type UpFunc func(svc ServiceKey, rs netip.AddrPort) bool

// Snapshot builds the immutable dataplane configuration from m with the health that up tells (nil:
// every server up): a real server that is down gets weight 0 or, with on-fail remove, is left out;
// the sorry server is added with weight 1 while no real server is up.
func (m *Model) Snapshot(up UpFunc) *control.Snapshot {
	sn := &control.Snapshot{
		Services:  make([]control.Service, 0, len(m.services)),
		MarkRules: m.markRules(),
		Timeouts: control.Timeouts{
			TCP:    secs(m.timeouts.TCP),
			TCPFin: secs(m.timeouts.TCPFin),
			UDP:    secs(m.timeouts.UDP),
		},
		Defense: control.Defense{Mode: defenseModes[m.defense.Mode], Threshold: m.defense.Threshold},
	}
	for _, s := range m.services {
		ds := control.Service{
			Key:         s.DataplaneKey(),
			Scheduler:   s.Scheduler,
			Flags:       s.SchedFlags,
			Netmask:     netip.PrefixFrom(unspecified(s.Address), s.Netmask),
			LocalAddrs:  append([]netip.Addr(nil), s.LocalAddrs...),
			RealServers: make([]control.RealServer, 0, len(s.Dests)+1),
		}
		if s.Persistent {
			ds.Flags |= control.ServicePersistent
			ds.Persistence = secs(s.Timeout)
		}
		if s.OnePacket {
			ds.Flags |= control.ServiceOnePacket
		}
		ds.Policy = s.Policy
		ds.MHSize = s.MHSize
		if s.SynProxy {
			ds.Flags |= control.ServiceSynProxy
		}
		ds.ProxyProtocol = proxyProtocols[s.ProxyProtocol]
		for _, d := range s.Dests {
			w, in := s.Effective(up, &d)
			if !in {
				continue
			}
			ds.RealServers = append(ds.RealServers, control.RealServer{
				Addr:           d.Address,
				Port:           d.Port,
				Forward:        control.ForwardMethod(d.Forward),
				Weight:         w,
				UpperThreshold: d.UThreshold,
				LowerThreshold: d.LThreshold,
			})
		}
		if s.SorryActive(up) {
			h := &s.Health
			ds.RealServers = append(ds.RealServers, control.RealServer{
				Addr:    h.Sorry.Addr(),
				Port:    h.Sorry.Port(),
				Forward: control.ForwardMethod(h.SorryForward),
				Weight:  1,
			})
		}
		sn.Services = append(sn.Services, ds)
	}
	return sn
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// SorryActive tells whether the service's sorry server takes the traffic: it has one and no
// real server is up.
func (s *Service) SorryActive(up UpFunc) bool {
	if !s.Health.Enabled() || !s.Health.Sorry.IsValid() {
		return false
	}
	for _, d := range s.Dests {
		if isUp(up, s.ServiceKey, &d) {
			return false
		}
	}
	return true
}

// Effective is the weight the dataplane gets for a real server and whether it is in the snapshot.
func (s *Service) Effective(up UpFunc, d *RealServerSpec) (weight uint32, in bool) {
	if isUp(up, s.ServiceKey, d) {
		return d.Weight, true
	}
	if s.Health.OnFail == OnFailRemove {
		return 0, false
	}
	return 0, true
}

func isUp(up UpFunc, svc ServiceKey, d *RealServerSpec) bool {
	return up == nil || up(svc, netip.AddrPortFrom(d.Address, d.Port))
}

func secs(s uint32) time.Duration { return time.Duration(s) * time.Second }

var defenseModes = map[string]control.DefenseMode{"auto": control.DefenseAuto, "always": control.DefenseAlways, "off": control.DefenseOff}

// proxyProtocols are the dataplane's names of --proxy-protocol's values.
var proxyProtocols = map[string]control.ProxyProtocol{"": control.ProxyProtocolOff, "v1": control.ProxyProtocolV1, "v2": control.ProxyProtocolV2}
