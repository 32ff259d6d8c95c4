package dataplane

import (
	"errors"
	"fmt"
	"slices"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/sched"
)

// Limits of one dataplane. Counters are arrays indexed by stable ids, so these bound memory.
const (
	MaxServices = 1024
	MaxDests    = 8192
)

// svcKey is a service's lookup key.
type svcKey struct {
	addr  header.Addr
	port  uint16
	proto uint16 // a uint8 widened so that the key has no padding: hashed as plain memory, fast
	mark  uint32 // a fwmark service (fwmark.go): addr is its family's unspecified address
}

// rsKey identifies a NAT real server by the source of its replies.
type rsKey struct {
	addr  header.Addr
	port  uint16
	proto uint8
}

// compiled is a Snapshot in the form workers run with. It is built off the fast path by Apply and
// never modified once published.
type compiled struct {
	gen      uint64
	services map[svcKey]int // index into svcs
	svcs     []svcInfo
	replies  map[rsKey]struct{}       // sources of NAT replies
	lips     map[header.Addr]struct{} // FULLNAT local addresses
	marks    []markRule               // the mark rules, in order (fwmark.go)
	timeouts conntrack.Timeouts
	defense  control.Defense // with its threshold defaulted
	standby  bool            // Snapshot.Standby: drop everything
	snap     *Snapshot
}

type svcInfo struct {
	id    uint16 // stable across snapshots: index of the service's counters
	key   svcKey
	spec  *Service
	sched *schedBuild
	dests []destInfo
	// Persistence: a template per client network (maskBits) for persist seconds.
	persist  uint32
	maskBits int
	policy   BackendPolicy
	replies  bool               // replies come back (NAT, FULLNAT): the client's next hop is needed
	lips     []header.Addr      // FULLNAT local addresses of the service's family
	lips4    []header.Addr      // and IPv4 ones of an IPv6 service, for NAT64
	synproxy bool               // -j: SYNs answered with cookies
	fullnat  bool               // some real server is FULLNAT: the client's segments carry TOA
	sloppy   bool               // a TCP segment without a connection may open one (BackendPolicy, NoSloppy)
	pp       proxyproto.Version // --proxy-protocol: FULLNAT connections' streams start with the header (proxyproto.go)
}

// schedBuild is a service's scheduler as compile built it, once for every worker: its table
// (wrr's runs, sh's buckets, mh's Maglev table, rr's and wrr's shared position) and the template
// of each worker's view of the real servers (weights and addresses; the worker fills in its
// connection counts). It is immutable, and carried over to the next configuration when the
// service's scheduler, flags and real servers (addresses, ports and weights, in order) are the
// same: neither its tables nor its position are rebuilt, and a worker keeps its instance (lblc's
// table, twos's random source).
type schedBuild struct {
	name  string
	flags ServiceFlags
	size  int // mh's table size
	table sched.Table
	dests []sched.Dest
}

// newSchedBuild builds the scheduler of spec (its factory f) over its real servers dests, or
// returns prev's when prev was built from the same.
func newSchedBuild(spec *Service, f sched.Factory, dests []sched.Dest, prev *schedBuild) *schedBuild {
	if prev != nil && prev.name == spec.Scheduler && prev.flags == spec.Flags && prev.size == spec.MHSize && slices.Equal(prev.dests, dests) {
		return prev
	}
	return &schedBuild{name: spec.Scheduler, flags: spec.Flags, size: spec.MHSize, dests: dests,
		table: f(sched.Config{Dests: dests, Flags: uint32(spec.Flags), TableSize: spec.MHSize})}
}

// destIndex finds the real server with id and gen among the service's, or -1.
func (s *svcInfo) destIndex(id, gen uint16) int {
	for j := range s.dests {
		if s.dests[j].id == id && s.dests[j].gen == gen {
			return j
		}
	}
	return -1
}

type destInfo struct {
	id     uint16 // stable across snapshots while the real server exists: index of its counters
	gen    uint16 // incremented each time id is given to a new real server (wrapping)
	addr   header.Addr
	port   uint16 // 0: the packet's destination port (all-ports services)
	method ForwardMethod
	weight int32
	// Connection thresholds (-x, -y) of this worker's share: overloaded at upper connections,
	// available again below lower (IPVS: 3/4 of upper when -y is 0). upper 0: none.
	upper, lower int64
}

// ids hands out stable ids to services and real servers: a real server keeps its id as long as it
// stays configured, so its counters and connections carry across snapshots.
type ids struct {
	svc     map[svcKey]uint16
	dest    map[destKeyFull]uint16
	svcFree []uint16
	free    []uint16
	gens    []uint16 // generation per dest id
	nextSvc uint16
	next    uint16
}

type destKeyFull struct {
	svc  svcKey
	addr header.Addr
	port uint16
}

func newIDs() *ids {
	return &ids{svc: map[svcKey]uint16{}, dest: map[destKeyFull]uint16{}, gens: make([]uint16, MaxDests)}
}

var (
	errTooMany = errors.New("dataplane: too many services or real servers")
	// ErrNotSupported wraps what this build or kernel cannot do.
	ErrNotSupported = errors.New("not supported")
)

func keyOf(k ServiceKey) svcKey {
	return svcKey{addr: header.AddrFromNetip(k.Addr), port: k.Port, proto: uint16(k.Proto), mark: k.FWMark}
}

// compile validates s and builds its compiled form, assigning ids. It builds the schedulers of
// the services that differ from prev's (the configuration in force, nil for none) and takes the
// others' from prev. On error ids are unchanged.
func compile(s *Snapshot, prev *compiled, in *ids, gen uint64) (*compiled, *ids, error) {
	c := &compiled{
		gen: gen, services: make(map[svcKey]int, len(s.Services)), replies: map[rsKey]struct{}{}, lips: map[header.Addr]struct{}{},
		timeouts: conntrack.DefaultTimeouts(), standby: s.Standby, snap: s,
	}
	c.timeouts.Set(s.Timeouts.TCP, s.Timeouts.TCPFin, s.Timeouts.UDP)
	c.defense = s.Defense
	if c.defense.Threshold <= 0 || c.defense.Threshold > 100 {
		c.defense.Threshold = control.DefaultDefenseThreshold
	}
	for _, l := range s.StandbyLocalAddrs {
		c.lips[header.AddrFromNetip(l)] = struct{}{} // in no service's list: never allocated from
	}
	marks, err := compileMarks(s.MarkRules)
	if err != nil {
		return nil, nil, err
	}
	c.marks = marks
	b := &compiler{c: c, prev: prev, ids: in.clone(), seenSvc: map[svcKey]bool{}, seenDest: map[destKeyFull]bool{}}
	for i := range s.Services {
		if err := b.service(&s.Services[i]); err != nil {
			return nil, nil, err
		}
	}
	b.ids.release(b.seenSvc, b.seenDest)
	return c, b.ids, nil
}

// compiler is compile's work in progress: the configuration so far, the ids it assigns and those
// of the services and real servers it has seen, and the configuration it follows.
type compiler struct {
	c        *compiled
	prev     *compiled
	ids      *ids
	seenSvc  map[svcKey]bool
	seenDest map[destKeyFull]bool
}

// service validates spec and adds it to the configuration.
func (b *compiler) service(spec *Service) error {
	c := b.c
	k := keyOf(spec.Key)
	switch {
	case spec.Key.FWMark != 0:
		if err := checkFWMark(spec.Key); err != nil {
			return err
		}
	case spec.Key.Proto != header.ProtocolTCP && spec.Key.Proto != header.ProtocolUDP:
		return fmt.Errorf("dataplane: service %v: protocol %d not supported", spec.Key.Addr, spec.Key.Proto)
	}
	if _, dup := c.services[k]; dup {
		return fmt.Errorf("dataplane: service %v:%d listed twice", spec.Key.Addr, spec.Key.Port)
	}
	f, ok := sched.Lookup(spec.Scheduler)
	if !ok {
		return fmt.Errorf("dataplane: service %v:%d: scheduler %q not found", spec.Key.Addr, spec.Key.Port, spec.Scheduler)
	}
	if spec.MHSize != 0 {
		if spec.Scheduler != "mh" {
			return fmt.Errorf("dataplane: service %v:%d: a table size is mh's, not %s's", spec.Key.Addr, spec.Key.Port, spec.Scheduler)
		}
		if err := sched.CheckMHSize(spec.MHSize); err != nil {
			return fmt.Errorf("dataplane: service %v:%d: %w", spec.Key.Addr, spec.Key.Port, err)
		}
		if len(spec.RealServers) >= spec.MHSize {
			return fmt.Errorf("dataplane: service %v:%d: %d real servers do not fit an mh table of %d entries", spec.Key.Addr, spec.Key.Port, len(spec.RealServers), spec.MHSize)
		}
	}
	sid, err := b.ids.serviceID(k)
	if err != nil {
		return err
	}
	b.seenSvc[k] = true
	si := svcInfo{id: sid, key: k, spec: spec, policy: spec.Policy, synproxy: spec.Flags&ServiceSynProxy != 0}
	if si.synproxy && spec.Key.Proto != header.ProtocolTCP {
		return fmt.Errorf("dataplane: service %v:%d: the SYN proxy is for TCP services only", spec.Key.Addr, spec.Key.Port)
	}
	if err := checkProxyProtocol(&si, spec); err != nil {
		return err
	}
	if spec.Flags&ServicePersistent != 0 {
		si.persist = uint32(max(spec.Persistence.Seconds(), 1))
		si.maskBits = 128
		if spec.Key.Addr.Is4() {
			si.maskBits = 32
		}
		if spec.Netmask.IsValid() {
			si.maskBits = spec.Netmask.Bits()
		}
	}
	inputOnly := false // some real server is DR or TUN: the ones sloppy TCP can serve
	for j := range spec.RealServers {
		if err := b.dest(&si, spec, &spec.RealServers[j]); err != nil {
			return err
		}
		inputOnly = inputOnly || spec.RealServers[j].Forward == ForwardRoute || spec.RealServers[j].Forward == ForwardTunnel
	}
	si.sloppy = spec.Key.Proto == header.ProtocolTCP && sched.Consistent(spec.Scheduler) && spec.Policy&NoSloppy == 0 &&
		!si.synproxy && inputOnly
	for _, l := range spec.LocalAddrs {
		// A LIP speaks to the real servers: their family (IPv4 under an IPv6 VIP for NAT64).
		a := header.AddrFromNetip(l)
		c.lips[a] = struct{}{}
		if l.Is4() == spec.Key.Addr.Is4() {
			si.lips = append(si.lips, a)
		} else if l.Is4() {
			si.lips4 = append(si.lips4, a)
		} else {
			return fmt.Errorf("dataplane: local address %v of IPv4 service %v: address families differ", l, spec.Key.Addr)
		}
	}
	dests := make([]sched.Dest, len(si.dests))
	for j, d := range si.dests {
		dests[j] = sched.Dest{Weight: d.weight, Addr: d.addr, Port: d.port}
	}
	var prev *schedBuild
	if b.prev != nil {
		if i, ok := b.prev.services[k]; ok {
			prev = b.prev.svcs[i].sched
		}
	}
	si.sched = newSchedBuild(spec, f, dests, prev)
	c.services[k] = len(c.svcs)
	c.svcs = append(c.svcs, si)
	return nil
}

// dest validates real server rs of service spec and adds it to si.
func (b *compiler) dest(si *svcInfo, spec *Service, rs *RealServer) error {
	switch rs.Forward {
	case ForwardFullNAT:
		// Without a local address of its family the real server is kept, and its new
		// connections are dropped as no_local_port: ipvsadm and DPVS take the real servers and
		// the local addresses in either order.
		si.replies, si.fullnat = true, true
	case ForwardMasq:
	case ForwardRoute, ForwardTunnel:
		if si.synproxy {
			// The proxy translates sequence numbers both ways: it must see the replies.
			return fmt.Errorf("dataplane: real server %v: the SYN proxy (-j) needs NAT (-m) or FULLNAT (-b), not %v", rs.Addr, rs.Forward)
		}
		// DR and TUN do not touch the ports: the real server must listen on the VIP's.
		if rs.Port != spec.Key.Port {
			return fmt.Errorf("dataplane: real server %v: %v needs the service's port %d, not %d", rs.Addr, rs.Forward, spec.Key.Port, rs.Port)
		}
	default:
		return fmt.Errorf("dataplane: real server %v: forwarding method %v: %w", rs.Addr, rs.Forward, ErrNotSupported)
	}
	if rs.Addr.Is4() != spec.Key.Addr.Is4() && !(rs.Forward == ForwardFullNAT && rs.Addr.Is4()) {
		// Only FULLNAT translates between families, and only from an IPv6 VIP to IPv4 servers
		// (NAT64).
		return fmt.Errorf("dataplane: real server %v of service %v: address families differ", rs.Addr, spec.Key.Addr)
	}
	if rs.Weight > 65535 {
		return fmt.Errorf("dataplane: real server %v: weight %d out of range", rs.Addr, rs.Weight)
	}
	dk := destKeyFull{svc: si.key, addr: header.AddrFromNetip(rs.Addr), port: rs.Port}
	did, dgen, err := b.ids.destID(dk)
	if err != nil {
		return err
	}
	b.seenDest[dk] = true
	di := destInfo{id: did, gen: dgen, addr: dk.addr, port: rs.Port, method: rs.Forward, weight: int32(rs.Weight)}
	if rs.UpperThreshold > 0 {
		di.upper = int64(rs.UpperThreshold)
		di.lower = int64(rs.LowerThreshold)
		if di.lower == 0 || di.lower > di.upper {
			di.lower = di.upper * 3 / 4
		}
	}
	si.dests = append(si.dests, di)
	if rs.Forward == ForwardMasq { // only NAT replies come back through the director
		for _, proto := range serviceProtos(spec.Key) {
			b.c.replies[rsKey{addr: dk.addr, port: rs.Port, proto: proto}] = struct{}{}
		}
		si.replies = true
	}
	return nil
}

func (in *ids) clone() *ids {
	out := &ids{svc: make(map[svcKey]uint16, len(in.svc)), dest: make(map[destKeyFull]uint16, len(in.dest)),
		svcFree: append([]uint16(nil), in.svcFree...), free: append([]uint16(nil), in.free...),
		gens: append([]uint16(nil), in.gens...), nextSvc: in.nextSvc, next: in.next}
	for k, v := range in.svc {
		out.svc[k] = v
	}
	for k, v := range in.dest {
		out.dest[k] = v
	}
	return out
}

func (in *ids) serviceID(k svcKey) (uint16, error) {
	if id, ok := in.svc[k]; ok {
		return id, nil
	}
	var id uint16
	switch {
	case len(in.svcFree) > 0:
		id, in.svcFree = in.svcFree[len(in.svcFree)-1], in.svcFree[:len(in.svcFree)-1]
	case in.nextSvc < MaxServices:
		id, in.nextSvc = in.nextSvc, in.nextSvc+1
	default:
		return 0, errTooMany
	}
	in.svc[k] = id
	return id, nil
}

func (in *ids) destID(k destKeyFull) (uint16, uint16, error) {
	if id, ok := in.dest[k]; ok {
		return id, in.gens[id], nil
	}
	var id uint16
	switch {
	case len(in.free) > 0:
		id, in.free = in.free[len(in.free)-1], in.free[:len(in.free)-1]
	case in.next < MaxDests:
		id, in.next = in.next, in.next+1
	default:
		return 0, 0, errTooMany
	}
	if in.gens[id]++; in.gens[id] == 0 {
		in.gens[id] = 1 // 0 marks a real server that is gone
	}
	in.dest[k] = id
	return id, in.gens[id], nil
}

// release frees the ids of services and real servers no longer configured.
func (in *ids) release(svcs map[svcKey]bool, dests map[destKeyFull]bool) {
	for k, id := range in.svc {
		if !svcs[k] {
			delete(in.svc, k)
			in.svcFree = append(in.svcFree, id)
		}
	}
	for k, id := range in.dest {
		if !dests[k] {
			delete(in.dest, k)
			in.free = append(in.free, id)
		}
	}
}
