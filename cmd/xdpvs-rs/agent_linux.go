package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xdpvs/xdpvs/toa/rs"
)

// progName names the program in the kernel and the legacy tc filter, so that a restart finds the
// filter a crashed run left behind.
const progName = "xdpvs_rs"

// agent owns the loaded objects, the attachments and the pins.
type agent struct {
	cfg    config
	log    *zap.Logger
	objs   rsObjects
	lock   *os.File // the pin directory, flock'ed
	links  []attachment
	pinned []*ebpf.Map
}

// attachment is one interface's hook.
type attachment interface {
	detach() error
	String() string
}

type tcxAttachment struct {
	iface string
	l     link.Link
}

func (a *tcxAttachment) detach() error  { return a.l.Close() }
func (a *tcxAttachment) String() string { return a.iface + " (tcx ingress)" }

type tcAttachment struct {
	iface     string
	filter    *netlink.BpfFilter
	madeQdisc *netlink.GenericQdisc
}

func (a *tcAttachment) detach() error {
	err := netlink.FilterDel(a.filter)
	if a.madeQdisc != nil {
		if e := netlink.QdiscDel(a.madeQdisc); e != nil && err == nil {
			err = e
		}
	}
	return err
}
func (a *tcAttachment) String() string { return a.iface + " (clsact ingress filter)" }

// newAgent loads the program, pins its maps (replacing stale pins) and attaches it. On error
// everything done so far is undone.
func newAgent(cfg config, log *zap.Logger) (_ *agent, err error) {
	a := &agent{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.lockPinDir(); err != nil {
		return nil, err
	}
	spec, err := loadRs()
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	if err := configureSpec(spec, cfg); err != nil {
		return nil, err
	}
	if err := spec.LoadAndAssign(&a.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load program: %+v", ve)
		}
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("load program: %w (needs CAP_BPF and CAP_NET_ADMIN, or root)", err)
		}
		return nil, fmt.Errorf("load program: %w", err)
	}
	if err := fillMaps(&a.objs, cfg); err != nil {
		return nil, err
	}
	for _, d := range cfg.directors {
		if d.Bits() == 0 {
			log.Warn("this director prefix accepts tunnels from every source of its family", zap.Stringer("director", d))
		}
	}
	if err := a.pin(a.objs.Stats, rs.MapStats); err != nil {
		return nil, err
	}
	if cfg.toa {
		if err := a.pin(a.objs.Toa, rs.MapTOA); err != nil {
			return nil, err
		}
	}
	for _, name := range cfg.ifaces {
		at, err := a.attach(name)
		if err != nil {
			return nil, err
		}
		a.links = append(a.links, at)
		log.Info("attached", zap.String("iface", at.String()))
	}
	return a, nil
}

// lockPinDir creates the pin directory and takes an exclusive flock on it: a second agent on the
// same directory fails instead of replacing a live agent's pins. The lock dies with the process.
func (a *agent) lockPinDir() error {
	dir := a.cfg.pin
	if err := ensureBPFFS(dir, a.log); err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create pin directory: %w (is bpffs mounted on /sys/fs/bpf?)", err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("pin directory %s is not on bpffs (mount -t bpf bpf /sys/fs/bpf)", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open pin directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("pin directory %s is in use by another xdpvs-rs", dir)
		}
		return fmt.Errorf("lock pin directory: %w", err)
	}
	a.lock = f
	return nil
}

// bpffsRoot is the conventional mount point of the BPF filesystem.
const bpffsRoot = "/sys/fs/bpf"

// ensureBPFFS mounts the BPF filesystem on /sys/fs/bpf when the pin directory is below it and
// nothing is mounted there yet (as systemd and Cilium do; the mount stays after the agent exits, like
// any system mount). Elsewhere the operator provides the bpffs.
func ensureBPFFS(dir string, log *zap.Logger) error {
	clean := filepath.Clean(dir)
	if clean != bpffsRoot && !strings.HasPrefix(clean, bpffsRoot+"/") {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(bpffsRoot, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", bpffsRoot, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", bpffsRoot, err)
	}
	log.Info("mounted bpffs", zap.String("path", bpffsRoot))
	return nil
}

// pin pins m as dir/name, replacing a stale pin left by a crashed run (the directory is locked, so
// no live agent owns it).
func (a *agent) pin(m *ebpf.Map, name string) error {
	path := filepath.Join(a.cfg.pin, name)
	if err := os.Remove(path); err == nil {
		a.log.Info("replaced stale pin", zap.String("path", path))
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale pin %s: %w", path, err)
	}
	if err := m.Pin(path); err != nil {
		return fmt.Errorf("pin %s: %w", path, err)
	}
	a.pinned = append(a.pinned, m)
	return nil
}

// configureSpec sizes the maps of spec and sets the program's constants for cfg.
func configureSpec(spec *ebpf.CollectionSpec, cfg config) error {
	if n := spec.Maps["stats"].MaxEntries; int(n) != len(statNames) {
		return fmt.Errorf("program has %d counters, the agent knows %d", n, len(statNames))
	}
	if cfg.toa {
		spec.Maps["toa"].MaxEntries = uint32(cfg.toaEntries)
		if err := spec.Variables["cfg_toa"].Set(uint8(1)); err != nil {
			return fmt.Errorf("set cfg_toa: %w", err)
		}
	} else {
		spec.Maps["toa"].MaxEntries = 1 // referenced by the program, never written
	}
	if err := spec.Variables["cfg_gue_port"].Set(cfg.guePort); err != nil {
		return fmt.Errorf("set cfg_gue_port: %w", err)
	}
	return nil
}

// fillMaps puts cfg's VIPs and directors in the loaded program's maps.
func fillMaps(objs *rsObjects, cfg config) error {
	for _, v := range cfg.vips {
		if err := objs.Vips.Put(v.As16(), uint8(1)); err != nil {
			return fmt.Errorf("add vip %s: %w", v, err)
		}
	}
	for _, d := range cfg.directors {
		if err := putDirector(objs, d); err != nil {
			return err
		}
	}
	return nil
}

// putDirector adds the tunnel source prefix d to its family's director trie.
func putDirector(objs *rsObjects, d netip.Prefix) error {
	var err error
	if d.Addr().Is4() {
		err = objs.Directors4.Put(rsDir4Key{Prefixlen: uint32(d.Bits()), Addr: d.Addr().As4()}, uint8(1))
	} else {
		err = objs.Directors6.Put(rsDir6Key{Prefixlen: uint32(d.Bits()), Addr: d.Addr().As16()}, uint8(1))
	}
	if err != nil {
		return fmt.Errorf("add director %s: %w", d, err)
	}
	return nil
}

func (a *agent) attach(name string) (attachment, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	if a.cfg.attach != "tc" {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: a.objs.XdpvsRs, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			return &tcxAttachment{iface: name, l: l}, nil
		}
		if a.cfg.attach == "tcx" || !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("attach tcx ingress to %s: %w", name, err)
		}
		a.log.Info("tcx not supported, falling back to clsact", zap.String("iface", name), zap.Error(err))
	}
	return a.attachTC(name, ifi.Index)
}

func (a *agent) attachTC(name string, index int) (attachment, error) {
	at := &tcAttachment{iface: name}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err == nil {
		at.madeQdisc = qdisc
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("add clsact qdisc to %s: %w", name, err)
	}
	// A filter of ours left by a crashed run: replace it. If it was the clsact's only filter, the
	// crashed run most likely added the qdisc too: adopt it, so that a clean stop removes it.
	dev := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
	if old, err := netlink.FilterList(dev, netlink.HANDLE_MIN_INGRESS); err == nil && at.madeQdisc == nil {
		removed := false
		for _, f := range old {
			if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, progName) {
				if err := netlink.FilterDel(bf); err == nil {
					removed = true
					a.log.Info("removed stale tc filter", zap.String("iface", name))
				}
			}
		}
		in, err1 := netlink.FilterList(dev, netlink.HANDLE_MIN_INGRESS)
		out, err2 := netlink.FilterList(dev, netlink.HANDLE_MIN_EGRESS)
		if removed && err1 == nil && err2 == nil && len(in) == 0 && len(out) == 0 {
			at.madeQdisc = qdisc
		}
	}
	at.filter = &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: index,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    netlink.MakeHandle(0, 1),
			Protocol:  unix.ETH_P_ALL,
			Priority:  1,
		},
		Fd:           a.objs.XdpvsRs.FD(),
		Name:         progName,
		DirectAction: true,
	}
	if err := netlink.FilterAdd(at.filter); err != nil {
		if at.madeQdisc != nil {
			_ = netlink.QdiscDel(at.madeQdisc)
		}
		return nil, fmt.Errorf("add tc filter to %s: %w", name, err)
	}
	return at, nil
}

// close detaches from every interface, removes the pins and releases everything. It returns the
// first error and keeps going past it.
func (a *agent) close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, l := range a.links {
		keep(l.detach())
	}
	a.links = nil
	for _, m := range a.pinned {
		keep(m.Unpin())
	}
	a.pinned = nil
	keep(a.objs.Close())
	if a.lock != nil {
		_ = os.Remove(a.cfg.pin) // only if empty: nothing but our pins lived there
		keep(a.lock.Close())
		a.lock = nil
	}
	return first
}

func serve(cfg config, stdout, stderr io.Writer) error {
	zc := zap.NewProductionConfig()
	zc.OutputPaths = []string{"stderr"}
	zc.Encoding = "console"
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer log.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)

	a, err := newAgent(cfg, log)
	if err != nil {
		return err
	}
	log.Info("xdpvs-rs running", zap.Strings("ifaces", cfg.ifaces), zap.Stringers("vips", cfg.vips),
		zap.Stringers("directors", cfg.directors), zap.Uint16("gue_port", cfg.guePort), zap.Bool("toa", cfg.toa),
		zap.String("pin", cfg.pin))
	fmt.Fprintf(stdout, "xdpvs-rs: ready (pid %d)\n", os.Getpid())
	s := <-sig
	log.Info("stopping", zap.String("signal", s.String()))
	if err := a.close(); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	return nil
}

func toaList(dir string, stdout io.Writer) error {
	t, err := rs.Open(dir)
	if err != nil {
		return err
	}
	defer t.Close()
	es, err := t.Entries()
	if err != nil {
		return err
	}
	return writeEntries(stdout, es)
}

func writeEntries(w io.Writer, es []rs.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCAL\tREMOTE\tCLIENT\tAGE")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Local, e.Remote, e.Client, e.Age.Truncate(time.Millisecond))
	}
	return tw.Flush()
}

// readStats sums the per-CPU counters of the pinned stats map.
func readStats(dir string) ([]uint64, error) {
	path := filepath.Join(dir, rs.MapStats)
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is xdpvs-rs running?)", path, err)
	}
	defer m.Close()
	return sumStats(m)
}

func sumStats(m *ebpf.Map) ([]uint64, error) {
	if int(m.MaxEntries()) != len(statNames) {
		return nil, fmt.Errorf("stats map has %d counters, this xdpvs-rs knows %d", m.MaxEntries(), len(statNames))
	}
	out := make([]uint64, len(statNames))
	var per []uint64
	for i := range out {
		if err := m.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", statNames[i], err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

func printStats(dir string, stdout io.Writer) error {
	vals, err := readStats(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for i, v := range vals {
		fmt.Fprintf(tw, "%s\t%d\n", statNames[i], v)
	}
	return tw.Flush()
}
