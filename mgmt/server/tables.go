package server

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
	"github.com/xdpvs/xdpvs/sched"
)

// schedTables are the tables of the consistent schedulers (sched.Consistent: mh, sh, dh) of the
// configuration last applied, built here as the dataplane builds them, from the same snapshot with
// the same factory: what their digests (show digest, -L -o json, the metric, and what directors
// that peer compare) and show pick are read from. A service's table is built again only when its
// scheduler, flags, table size or real servers (address, port, weight, order) change, so that a
// change costs what it changes. Guarded by Server.mu.
type schedTables map[control.ServiceKey]*schedTable

// schedTable is one service's.
type schedTable struct {
	name   string
	flags  uint32
	size   int
	dests  []sched.Dest
	table  sched.Table
	digest sched.Digest
}

// applied rebuilds t for snapshot sn, which the dataplane took.
func (t *schedTables) applied(sn *control.Snapshot) {
	next := make(schedTables, len(sn.Services))
	for i := range sn.Services {
		s := &sn.Services[i]
		if !sched.Consistent(s.Scheduler) {
			continue
		}
		cfg := sched.Config{Dests: destsOf(s.RealServers), Flags: uint32(s.Flags), TableSize: s.MHSize}
		if old := (*t)[s.Key]; old != nil && old.name == s.Scheduler && old.flags == cfg.Flags && old.size == cfg.TableSize &&
			slices.Equal(old.dests, cfg.Dests) {
			next[s.Key] = old
			continue
		}
		f, ok := sched.Lookup(s.Scheduler)
		if !ok {
			continue
		}
		st := &schedTable{name: s.Scheduler, flags: cfg.Flags, size: cfg.TableSize, dests: cfg.Dests, table: f(cfg)}
		st.digest, _ = sched.DigestOf(s.Scheduler, st.table, cfg)
		next[s.Key] = st
	}
	*t = next
}

// destsOf is the scheduler's view of real servers rs, as the dataplane gives it (dataplane.compile).
func destsOf(rs []control.RealServer) []sched.Dest {
	ds := make([]sched.Dest, len(rs))
	for i, r := range rs {
		ds[i] = sched.Dest{Weight: int32(r.Weight), Addr: header.AddrFromNetip(r.Addr), Port: r.Port}
	}
	return ds
}

// fill sets the table digest of every service of st that has one.
func (t schedTables) fill(st *api.State) {
	for i := range st.Services {
		ss := &st.Services[i]
		if tb := t[ss.DataplaneKey()]; tb != nil {
			ss.TableDigest = tb.digest.String()
		}
	}
}

// pick answers show pick: the real server the service's scheduler picks for a connection from
// each client, as a new connection would get it on this director (without persistence templates
// and connection thresholds, which the directors do not share).
func (t schedTables) pick(m *model.Model, c *model.Command) ([]api.Pick, error) {
	if !c.HasService || m.Find(c.Service.ServiceKey) == nil {
		return nil, model.ErrNoService
	}
	if len(c.Clients) > api.MaxPickClients {
		return nil, fmt.Errorf("show pick: %d clients, at most %d in one request", len(c.Clients), api.MaxPickClients)
	}
	k := c.Service.ServiceKey
	tb := t[k.DataplaneKey()]
	if tb == nil {
		return nil, fmt.Errorf("show pick: %s: its scheduler picks by state of its own (counts, a position), not from the tuple: only mh, sh and dh can say", k)
	}
	inst := tb.table.Instance()
	out := make([]api.Pick, len(c.Clients))
	for i, cl := range c.Clients {
		if cl.Addr().Is4() != k.Address.Is4() {
			return nil, fmt.Errorf("show pick: client %v: not the family of %s", cl, k)
		}
		tu := header.Tuple{SrcAddr: header.AddrFromNetip(cl.Addr()), DstAddr: header.AddrFromNetip(k.Address),
			SrcPort: cl.Port(), DstPort: k.Port, Proto: uint8(k.Protocol)}
		out[i].Client = cl
		if j := inst.Schedule(&tu, tb.dests); j >= 0 {
			d := &tb.dests[j]
			out[i].Server = netip.AddrPortFrom(d.Addr.Netip(), d.Port)
		}
	}
	return out, nil
}
