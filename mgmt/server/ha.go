package server

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Active/standby with keepalived's VRRP (docs/active-standby.md). keepalived moves the addresses
// (the VIPs, the real servers' gateway, the FULLNAT local addresses) and tells the daemon its
// state through its notify scripts (`xdpvsadm ha role master|backup|fault`); its track_script
// asks `xdpvsadm ha ready`. The role decides whether the dataplane forwards: a master (or a
// director without --ha) serves, a backup or a faulty one is on standby (control.Snapshot.Standby)
// and forwards nothing of what may still reach it (a client's stale ARP entry, a flooded frame),
// so that two directors never both answer for one flow. The role also withholds the BGP
// announcements of a director that is not master (Server.Standby).
//
// Readiness is asked of the providers in Config.Readiness, in order, then of the connection sync
// (Config.Sync: its bulk copy from the peers done); the role does not enter it,
// so that keepalived, which runs its notify scripts only on a change of state, leaves FAULT as
// soon as the daemon is ready, whatever it missed while the daemon was down.

// Readiness is one condition of `xdpvsadm ha ready` besides the connection sync's: the dataplane
// attached and its workers alive (cmd/xdpvsd). Ready returns nil when it holds, otherwise why
// not, in one line.
type Readiness interface {
	Ready() error
}

// ReadinessFunc is a function that is a Readiness.
type ReadinessFunc func() error

// Ready implements Readiness.
func (f ReadinessFunc) Ready() error { return f() }

// HAConfig makes the daemon one of an active/standby pair (xdpvsd --ha): it starts in Role
// (api.HAMaster or api.HABackup) for Reason, until keepalived says otherwise.
type HAConfig struct {
	Role   string
	Reason string
}

// haState is the director's role. Its mutex is taken after Server.mu, never before.
type haState struct {
	mu          sync.Mutex
	enabled     bool
	role        string
	since       time.Time
	reason      string
	transitions uint64
	history     []api.HATransition
}

func newHAState(c *HAConfig) (*haState, error) {
	h := &haState{role: api.HAStandalone, since: time.Now(), reason: "xdpvsd without --ha"}
	if c != nil {
		if c.Role != api.HAMaster && c.Role != api.HABackup {
			return nil, fmt.Errorf("mgmt: initial role %q: want master or backup", c.Role)
		}
		h.enabled, h.role, h.reason = true, c.Role, c.Reason
	}
	return h, nil
}

// set makes role the director's role (a change) and records it.
func (h *haState) set(role, reason string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, api.HATransition{At: now, From: h.role, To: role, Reason: reason})
	if n := len(h.history); n > api.HAHistory {
		h.history = slices.Delete(h.history, 0, n-api.HAHistory)
	}
	h.role, h.since, h.reason = role, now, reason
	h.transitions++
}

// current is the role.
func (h *haState) current() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.role
}

// onStandby tells whether a director in role forwards nothing.
func onStandby(role string) bool { return role == api.HABackup || role == api.HAFault }

// standby tells whether the dataplane must forward nothing.
func (h *haState) standby() bool { return onStandby(h.current()) }

// snapshot is the dataplane's configuration for m with the servers' health and the role.
func (s *Server) snapshot(m *model.Model) *control.Snapshot {
	sn := m.Snapshot(s.hs.up)
	sn.Standby = s.ha.standby()
	return sn
}

var errNoHA = errors.New("xdpvsd runs without --ha: ha role is for a director of an active/standby pair (docs/active-standby.md)")

// haRole runs `ha role ROLE`, alone in its request.
func (s *Server) haRole(cmds []model.Command) error {
	if len(cmds) != 1 {
		return errors.New("ha role must be the only command of a request")
	}
	return s.SetRole(cmds[0].Role, "xdpvsadm ha role "+cmds[0].Role)
}

// SetRole makes role (api.HAMaster, HABackup or HAFault) the director's, for reason: the
// dataplane forwards or stands by before it returns, and the announcement policy is told. A
// role the dataplane refuses is not taken.
func (s *Server) SetRole(role, reason string) error {
	if !slices.Contains(api.HARoles, role) {
		return fmt.Errorf("ha role: %q: want master, backup or fault", role)
	}
	if !s.ha.enabled {
		return errNoHA
	}
	s.mu.Lock()
	from := s.ha.current()
	if from == role {
		s.mu.Unlock()
		return nil
	}
	sn := s.m.Snapshot(s.hs.up)
	sn.Standby = onStandby(role)
	if err := s.cfg.Control.Apply(sn); err != nil {
		s.mu.Unlock()
		s.log.Error("dataplane refused a change of role", zap.String("role", role), zap.Error(err))
		return fmt.Errorf("ha role %s: dataplane refused it, still %s: %w", role, from, err)
	}
	s.tabs.applied(sn)
	s.ha.set(role, reason, time.Now())
	s.mu.Unlock()
	if role == api.HAMaster {
		s.log.Info("ha role master: forwarding", zap.String("was", from), zap.String("reason", reason))
	} else {
		s.log.Warn("ha role "+role+": standing by, forwarding nothing", zap.String("was", from), zap.String("reason", reason))
	}
	if s.cfg.Announcer != nil {
		s.cfg.Announcer.Poke()
	}
	return nil
}

// Ready is `xdpvsadm ha ready`: nil when every Config.Readiness holds and the connection sync's
// bulk copy is done (SyncReady), otherwise the first that does not.
func (s *Server) Ready() error {
	for _, r := range s.cfg.Readiness {
		if err := r.Ready(); err != nil {
			return err
		}
	}
	if !s.SyncReady() {
		why := "connection sync: the bulk copy from the peers is not done"
		if st := s.Sync(); st != nil && st.Join != "" {
			why += " (" + st.Join + ")"
		}
		return errors.New(why)
	}
	return nil
}

// Standby is why the director must not be announced by reason of its role ("" when it may):
// an active/standby director that is not master.
func (s *Server) Standby() string {
	if role := s.ha.current(); onStandby(role) {
		return "ha role " + role
	}
	return ""
}

// HA is `show ha`.
func (s *Server) HA() *api.HAState {
	err := s.Ready()
	s.ha.mu.Lock()
	defer s.ha.mu.Unlock()
	st := &api.HAState{Enabled: s.ha.enabled, Role: s.ha.role, Since: s.ha.since, Reason: s.ha.reason,
		Transitions: s.ha.transitions, Forwarding: s.ha.role == api.HAMaster || s.ha.role == api.HAStandalone,
		Ready: err == nil, History: slices.Clone(s.ha.history)}
	if st.History == nil {
		st.History = []api.HATransition{}
	}
	if err != nil {
		st.NotReady = err.Error()
	}
	return st
}

// haWarning is the warning of a change that fights keepalived: with --ha, a local address put on
// an interface by the daemon (--add-laddr -F) is there on both directors, whatever their role.
func (s *Server) haWarning(c *model.Command) string {
	if !s.ha.enabled || c.Op != model.OpAddLaddr || c.Ifname == "" {
		return ""
	}
	return fmt.Sprintf("--add-laddr -F %s with --ha: the daemon puts %s on %s whatever its role; let keepalived move it (virtual_ipaddress) and give it without -F",
		c.Ifname, c.LocalAddr, c.Ifname)
}
