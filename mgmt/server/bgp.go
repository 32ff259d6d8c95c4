package server

import (
	"errors"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Announcer is the daemon's announcement policy as the server sees it (mgmt/announce with the
// BGP speaker, wired by cmd/xdpvsd): it lists what is announced, drains and undrains, and is
// poked after every change so that a VIP goes or comes at once.
type Announcer interface {
	BGP() *api.BGPState
	Drain(on bool)
	Poke()
}

var errNoAnnouncer = errors.New("BGP is not configured (xdpvsd --bgp-as ASN --bgp-router-id ADDR --bgp-peer ADDR,ASN, or --export-table N)")

// BGP is `show bgp` (nil when the daemon announces nothing).
func (s *Server) BGP() *api.BGPState {
	if s.cfg.Announcer == nil {
		return nil
	}
	return s.cfg.Announcer.BGP()
}

// drain runs `drain` or `undrain`, alone in its request.
func (s *Server) drain(cmds []model.Command) error {
	if len(cmds) != 1 {
		return errors.New("drain and undrain must be the only command of a request")
	}
	if s.cfg.Announcer == nil {
		return errNoAnnouncer
	}
	on := cmds[0].Op == model.OpDrain
	s.log.Sugar().Infof("xdpvsadm %s", cmds[0].Op)
	s.cfg.Announcer.Drain(on)
	return nil
}

// Listing is the configuration with each real server's health and effective weight, without
// the dataplane's counters: what the announcement policy reads several times a second (it never
// waits for a worker).
func (s *Server) Listing() *api.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := listing(s.m)
	s.tabs.fill(st)
	s.fillHealth(st, true)
	return st
}
