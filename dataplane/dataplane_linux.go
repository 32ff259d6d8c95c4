package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/syncrec"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/synproxy"
)

// Config is how a Dataplane is built.
type Config struct {
	Interfaces []string // forwarded interfaces; worker q owns queue q of each
	Workers    int      // 0: AutoWorkers; each interface needs at least this many queues
	CPUs       []int    // CPU of each worker; default WorkerCPUs
	Conns      int      // connection-table capacity per worker; default 1<<18
	Templates  int      // persistence templates for the whole director; default 1<<18
	XSK        xsk.Options
	Attach     xsk.AttachMode
	// BareForward replaces load balancing with a plain forward between the first two interfaces
	// (MACs rewritten, nothing else): the ceiling of the xsk layer, for benchmarks.
	BareForward bool
	// CompleteChecksums finishes the TCP and UDP checksums that a local sender left to transmit
	// offload (containers on a veth, some virtual NICs: the field holds only the pseudo-header
	// sum, and the real server would drop the packet), at the cost of a full checksum for each
	// such packet; other packets cost a comparison. See Pipeline.completeChecksum.
	CompleteChecksums bool
	// FastPath lets the steering program forward established connections itself (fastpath.go),
	// where the kernel allows it; off with CompleteChecksums or BareForward.
	FastPath bool
	Logger   *zap.Logger
	Sync     SyncConfig
}

// DefaultXSKOptions are the AF_XDP settings of a worker: 2048-byte frames (packets up to 1792 bytes,
// an MTU of 1778), receive rings of 2048 to absorb bursts while a worker is descheduled, transmit
// rings of 1024; New sizes the UMEM for all the worker's sockets.
func DefaultXSKOptions() xsk.Options {
	o := xsk.DefaultOptions()
	o.FrameSize = 2048
	o.FillSize, o.RXSize, o.TXSize, o.CompletionSize = 2048, 2048, 1024, 1024
	return o
}

// Dataplane runs the workers. It implements Control.
type Dataplane struct {
	cfg      Config
	log      *zap.Logger
	ports    []Port
	neigh    *Neighbours
	steer    *xsk.Steering
	workers  []*worker
	conf     atomic.Pointer[compiled]
	stop     atomic.Bool
	done     []chan struct{}
	resolver *resolver
	tunSrc   *tunnelSources // the tunnels' source addresses, which sources computes and the workers read
	sources  *sourcer
	tmpls    *templates
	cookies  *synproxy.Cookies             // the SYN proxy's, shared by the workers, rotated by the janitor
	persist  atomic.Pointer[persistCounts] // the janitor's last count
	janitor  chan struct{}

	queues    []int // receive queues of each port; every one has a socket (worker q owns q, q+workers, ...)
	maxQueues int

	mu  sync.Mutex // Apply
	ids *ids
	gen uint64

	sync     syncShared  // connection sync (sync_linux.go)
	fastOn   bool        // the steering program's fast path is on
	fastFull atomic.Bool // its map refused a record (logged once)
}

var _ Control = (*Dataplane)(nil)

// New attaches the steering program to every interface, binds one socket per interface and worker,
// and starts the workers with an empty configuration.
func New(cfg Config) (d *Dataplane, err error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("dataplane: no interface given")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = AutoWorkers(cfg.Interfaces)
	}
	cfg = withDefaults(cfg)
	if cfg.BareForward && len(cfg.Interfaces) != 2 {
		return nil, errors.New("dataplane: bare forwarding needs exactly two interfaces")
	}
	d = &Dataplane{cfg: cfg, log: cfg.Logger, neigh: NewNeighbours(), ids: newIDs(), tmpls: newTemplates(cfg.Templates)}
	if len(cfg.Sync.Secret) > 0 {
		ownerKey = clusterOwnerKey(cfg.Sync.Secret) // before any worker runs
	}
	ccfg := synproxy.DefaultConfig()
	if len(cfg.Sync.Secret) > 0 {
		// The cluster's cookies: the same on every director with the sync key, their slots in
		// wall-clock time, so that a cookie ACK reaching another director than the SYN is valid.
		ccfg.Secret, ccfg.Epoch = cfg.Sync.Secret, clockBase.UnixNano()
	}
	if d.cookies, err = synproxy.New(ccfg); err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	d.cookies.RotateTo(clusterCookieGen(time.Now())) // a cluster's: the generation of now (else nothing)
	made := d                                        // a failed New returns nil: what it made so far is undone here
	defer func() {
		if err != nil {
			made.Close()
		}
	}()
	for _, name := range cfg.Interfaces {
		port, queues, err := newPort(name, cfg.Workers)
		if err != nil {
			return nil, err
		}
		d.ports = append(d.ports, port)
		d.queues = append(d.queues, queues)
		d.maxQueues = max(d.maxQueues, queues)
	}
	// Every socket of a worker draws on its UMEM: enough frames for each one's fill and RX rings,
	// and the TX ring of each port's transmitting socket, or one queue starves the others of
	// receive buffers.
	need := 0
	for _, q := range d.queues {
		owned := (q + cfg.Workers - 1) / cfg.Workers
		need += owned*(cfg.XSK.FillSize+cfg.XSK.RXSize) + cfg.XSK.TXSize
	}
	d.cfg.XSK.NumFrames = max(d.cfg.XSK.NumFrames, need)
	if d.steer, err = xsk.NewSteering(cfg.Workers * cfg.Conns); err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	d.enableFastPath()
	for _, p := range d.ports {
		mode, err := d.steer.Attach(p.Ifindex, cfg.Attach)
		if err != nil && d.fastOn && len(d.steer.Attached()) == 0 && !errors.Is(err, xsk.ErrInterfaceBusy) {
			// A kernel that lacks what the fast path needs (a helper, a map type) refuses the
			// program: go on without it.
			d.log.Warn("XDP fast path off: the kernel refused the steering program with it; every packet goes through the workers", zap.Error(err))
			d.fastOn = false
			d.steer.DisableFastPath()
			mode, err = d.steer.Attach(p.Ifindex, cfg.Attach)
		}
		if err != nil {
			return nil, fmt.Errorf("dataplane: attach to %s: %w", p.Name, err)
		}
		d.log.Info("steering program attached", zap.String("iface", p.Name), zap.Stringer("mode", mode))
	}
	d.tunSrc = new(tunnelSources)
	d.sources = newSourcer(d.ports, d.tunSrc, d.log)
	d.sources.setConfig(nil)
	if d.resolver, err = startResolver(d.ports, d.neigh, d.sources, d.log); err != nil {
		return nil, err
	}
	d.conf.Store(&compiled{services: map[svcKey]int{}, replies: map[rsKey]struct{}{}, timeouts: conntrack.DefaultTimeouts(), snap: &Snapshot{}})
	if err := d.steer.Update(xsk.Rules{}); err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	now := monotonic()
	for q := range cfg.Workers {
		w, err := d.newWorker(q, now)
		if err != nil {
			return nil, err
		}
		d.workers = append(d.workers, w)
		d.log.Info("worker started", zap.Int("worker", q), zap.Int("cpu", w.cpu), zap.Ints("queues", w.queues))
	}
	for i, w := range d.workers {
		for j, v := range d.workers {
			if i != j {
				r := newHandoffRing(w.umem.MaxPacket())
				w.out[j], v.in[i] = r, r
			}
		}
	}
	for _, w := range d.workers {
		done := make(chan struct{})
		d.done = append(d.done, done)
		go w.run(&d.stop, done)
	}
	d.janitor = make(chan struct{})
	go d.sweepTemplates()
	return d, nil
}

// withDefaults gives cfg's unset fields their defaults.
func withDefaults(cfg Config) Config {
	if cfg.Conns <= 0 {
		cfg.Conns = 1 << 18
	}
	if cfg.Templates <= 0 {
		cfg.Templates = 1 << 18
	}
	if cfg.XSK.FrameSize == 0 {
		cfg.XSK = DefaultXSKOptions()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// newPort describes interface name as a port for workers workers, and returns its number of
// receive queues: it must be Ethernet and have a receive queue for each worker (each worker
// transmits on its own queue of every port).
func newPort(name string, workers int) (Port, int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return Port{}, 0, fmt.Errorf("dataplane: interface %q: %w", name, err)
	}
	if len(ifc.HardwareAddr) != 6 {
		return Port{}, 0, fmt.Errorf("dataplane: interface %q has no Ethernet address", name)
	}
	q := rxQueues(name)
	if q < workers {
		return Port{}, 0, fmt.Errorf("dataplane: interface %q has %d receive queues, fewer than %d workers (every worker needs a queue of every interface to transmit on): use --workers %d or more queues (ethtool -L %s combined %d)",
			name, q, workers, q, name, workers)
	}
	port := Port{Name: name, Ifindex: ifc.Index, MAC: header.MAC(ifc.HardwareAddr), MTU: ifc.MTU}
	return port, q, nil
}

// sweepTemplates frees expired persistence templates and counts the live ones, every second, and
// rotates the SYN cookie secret every CookieRotation.
func (d *Dataplane) sweepTemplates() {
	defer close(d.janitor)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	rotated := time.Now()
	for !d.stop.Load() {
		<-t.C
		d.persist.Store(countTemplates(d.tmpls, d.conf.Load(), monotonic()))
		if len(d.cfg.Sync.Secret) > 0 {
			d.cookies.RotateTo(clusterCookieGen(time.Now()))
			continue
		}
		if time.Since(rotated) >= CookieRotation {
			if err := d.cookies.Rotate(); err != nil {
				d.log.Warn("SYN cookie secret not rotated", zap.Error(err))
			}
			rotated = time.Now()
		}
	}
}

func (d *Dataplane) newWorker(q int, now int64) (*worker, error) {
	cpus := d.cfg.CPUs
	if len(cpus) == 0 {
		cpus = WorkerCPUs()
	}
	cpu := cpus[q%len(cpus)]
	u, err := xsk.NewUMEM(d.cfg.XSK)
	if err != nil {
		return nil, fmt.Errorf("dataplane: worker %d: %w", q, err)
	}
	w := &worker{
		id: q, cpu: cpu, dp: d, umem: u, rx: make([]xsk.Desc, batchSize), frames: make([][]byte, batchSize), frameMask: uint64(d.cfg.XSK.FrameSize - 1),
		in: make([]*handoffRing, d.cfg.Workers), out: make([]*handoffRing, d.cfg.Workers),
		lists: make(chan listReq, 4),
	}
	w.p = newPipeline(q, d.cfg.Workers, d.ports, d.neigh, d.cfg.Conns, now)
	w.publish(now)
	w.p.flows, w.flowKeys = new(flowLog), make([]xsk.FlowKey, 0, xsk.MaxFlowBatch)
	w.p.tmpls, w.p.cookies = d.tmpls, d.cookies
	w.p.completeSums, w.p.tunSrc = d.cfg.CompleteChecksums, d.tunSrc
	if d.cfg.Sync.Enabled {
		w.syncOut, w.syncIn, w.bulks = new(syncRing), make(chan syncrec.Record, syncImportSize), make(chan bulkReq, 4)
		w.p.enableSync(d.cfg.Sync.MinAge, w.syncOut, w.syncIn)
	}
	d.newWorkerFastPath(w)
	w.proc = w.p
	if d.cfg.BareForward {
		w.proc = &bareForwarder{p: w.p, neigh: d.neigh}
	}
	if w.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		u.Close()
		return nil, fmt.Errorf("dataplane: worker %d: eventfd: %w", q, err)
	}
	for queue := q; queue < d.maxQueues; queue += d.cfg.Workers {
		w.queues = append(w.queues, queue)
	}
	for port, p := range d.ports {
		for _, queue := range w.queues {
			if queue >= d.queues[port] {
				continue
			}
			s, err := u.Bind(p.Ifindex, queue)
			if err != nil {
				w.close()
				return nil, fmt.Errorf("dataplane: worker %d: %w", q, err)
			}
			if err := d.steer.Register(s); err != nil {
				w.close()
				return nil, fmt.Errorf("dataplane: worker %d: %w", q, err)
			}
			if queue == q {
				w.socks = append(w.socks, s)
				w.txq = append(w.txq, make([]xsk.Desc, 0, 2*batchSize))
			}
			w.rxs = append(w.rxs, rxSocket{s: s, port: port})
			w.pollfds = append(w.pollfds, unix.PollFd{Fd: int32(s.FD()), Events: unix.POLLIN})
		}
	}
	w.pollfds = append(w.pollfds, unix.PollFd{Fd: int32(w.efd), Events: unix.POLLIN})
	return w, nil
}

func (w *worker) close() {
	w.umem.Close()
	unix.Close(w.efd)
}

// Apply implements Control.
func (d *Dataplane) Apply(s *Snapshot) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s = d.withStandby(s)
	c, ids, err := compile(s, d.conf.Load(), d.ids, d.gen+1)
	if err != nil {
		return err
	}
	var rules xsk.Rules
	rules.Services = markEndpoints(s.MarkRules)
	for _, l := range s.StandbyLocalAddrs {
		if !slices.Contains(rules.LocalAddrs, l) {
			rules.LocalAddrs = append(rules.LocalAddrs, l)
		}
	}
	for i := range c.svcs {
		sp := c.svcs[i].spec
		if sp.Key.FWMark != 0 {
			continue // its packets are the mark rules'
		}
		rules.Services = append(rules.Services, xsk.Endpoint{Proto: sp.Key.Proto, Addr: sp.Key.Addr, Port: sp.Key.Port})
		rules.FragmentTo = appendNew(rules.FragmentTo, sp.Key.Addr)
		for _, d := range c.svcs[i].dests {
			if d.method == ForwardMasq {
				rules.FragmentFrom = appendNew(rules.FragmentFrom, d.addr.Netip())
			}
		}
		for _, l := range sp.LocalAddrs {
			if !slices.Contains(rules.LocalAddrs, l) { // a LIP may serve several services
				rules.LocalAddrs = append(rules.LocalAddrs, l)
			}
		}
	}
	// The tunnels' sources first, so that the new real servers' first packets find theirs; then
	// the workers, so that the packets the program starts steering find their service.
	d.sources.setConfig(c)
	prev := d.conf.Swap(c)
	if err := d.steer.Update(rules); err != nil {
		d.conf.Store(prev)
		d.sources.setConfig(prev)
		return fmt.Errorf("dataplane: steering: %w", err)
	}
	d.ids, d.gen = ids, d.gen+1
	// Resolve the real servers' next hops now, so that their first packets do not wait for it.
	for i := range c.svcs {
		for j := range c.svcs[i].dests {
			d.neigh.nextHop(&c.svcs[i].dests[j].addr, nil)
		}
	}
	d.log.Info("configuration applied", zap.Uint64("generation", d.gen), zap.Int("services", len(c.svcs)))
	return nil
}

// appendNew appends a to list unless it holds it already.
func appendNew(list []netip.Addr, a netip.Addr) []netip.Addr {
	if slices.Contains(list, a) {
		return list
	}
	return append(list, a)
}

// Workers is the number of workers (with --workers auto, what AutoWorkers chose).
func (d *Dataplane) Workers() int { return len(d.workers) }

// Close stops the workers and removes everything the dataplane attached or bound.
func (d *Dataplane) Close() error {
	d.stop.Store(true)
	for _, w := range d.workers {
		var one = [8]byte{1}
		_, _ = unix.Write(w.efd, one[:])
	}
	for _, done := range d.done {
		<-done
	}
	if d.janitor != nil {
		<-d.janitor
	}
	var errs []error
	if d.steer != nil {
		errs = append(errs, d.steer.Close())
	}
	for _, w := range d.workers {
		w.close()
	}
	if d.resolver != nil {
		d.resolver.close()
	}
	d.workers, d.done = nil, nil
	return errors.Join(errs...)
}

// AutoWorkers is the number of workers --workers auto runs on interfaces: one per receive queue
// (each worker needs a queue of every interface to transmit on: the fewest queues of any), at most
// one per CPU the process may run on, at least one. A worker owns the queues beyond that count too
// (q, q+workers, ...), so every queue is served.
func AutoWorkers(interfaces []string) int {
	n := len(WorkerCPUs())
	for _, name := range interfaces {
		n = min(n, rxQueues(name))
	}
	return max(n, 1)
}

// WorkerCPUs are the CPUs workers are pinned to by default, in order: those the process may run
// on, CPU 0 last (it takes the machine's housekeeping and, on many systems, the NIC's interrupts),
// so that with fewer workers than CPUs no worker shares CPU 0.
func WorkerCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus
	}
	var cpus []int
	for c := 1; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if set.IsSet(0) {
		cpus = append(cpus, 0)
	}
	return cpus
}

// rxQueues is the number of receive queues of an interface, from sysfs.
func rxQueues(name string) int {
	ents, err := os.ReadDir("/sys/class/net/" + name + "/queues")
	if err != nil {
		return 1
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "rx-") {
			n++
		}
	}
	return n
}
