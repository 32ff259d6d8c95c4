package server

import "github.com/xdpvs/xdpvs/mgmt/api"

// Syncer is the connection-sync channel as the server sees it (mgmt/connsync with the
// dataplane's counters, wired by cmd/xdpvsd).
type Syncer interface {
	Sync() *api.SyncState
	// Ready reports whether the joining director's bulk copy is done (or timed out).
	Ready() bool
}

// Sync is `show sync` (nil when the daemon syncs nothing).
func (s *Server) Sync() *api.SyncState {
	if s.cfg.Sync == nil {
		return nil
	}
	return s.cfg.Sync.Sync()
}

// SyncReady reports whether connection sync lets the director take traffic: its bulk copy from
// the peers is done or timed out (true when it syncs nothing). `xdpvsadm ha ready` and the
// announcement gate read it.
func (s *Server) SyncReady() bool { return s.cfg.Sync == nil || s.cfg.Sync.Ready() }
