package pktgen

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Sink counts and drops the UDP frames (and, after SetDropTCP(true), the TCP segments) arriving on
// one interface, in native XDP mode, and measures the latency of the generator's stamped frames.
type Sink struct {
	objs sinkObjects
	link link.Link
}

// Count is packets and bytes (frame length without FCS).
type Count struct {
	Packets, Bytes uint64
}

// SinkStats are the sink's counters by CPU (index = CPU number).
type SinkStats struct {
	Dropped []Count // UDP frames, counted and dropped
	Passed  []Count // everything else, passed to the kernel
}

func sum(cs []Count) Count {
	var t Count
	for _, c := range cs {
		t.Packets += c.Packets
		t.Bytes += c.Bytes
	}
	return t
}

// UDP is the total of the counted and dropped UDP frames.
func (s SinkStats) UDP() Count { return sum(s.Dropped) }

// Other is the total of the passed frames.
func (s SinkStats) Other() Count { return sum(s.Passed) }

// AttachSink attaches a sink to iface in ns (nil: the caller's namespace) in native (driver) mode.
func AttachSink(ns *netns.NS, iface string) (*Sink, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("pktgen: memlock: %w", err)
	}
	s := &Sink{}
	if err := loadSinkObjects(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("pktgen: load sink: %w", err)
	}
	var err error
	if s.link, err = attachNative(ns, iface, s.objs.XdpvsSink); err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("pktgen: attach sink to %s (native XDP): %w", iface, err)
	}
	return s, nil
}

// attachNative attaches prog to iface in ns (nil: the caller's namespace) in native (driver)
// mode; a kernel or driver without it is ErrNotSupported.
func attachNative(ns *netns.NS, iface string, prog *ebpf.Program) (link.Link, error) {
	var l link.Link
	attach := func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		return err
	}
	var err error
	if ns == nil {
		err = attach()
	} else {
		err = ns.Do(attach)
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		err = fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return l, err
}

// Read returns the counters.
func (s *Sink) Read() (SinkStats, error) {
	var st SinkStats
	for key, dst := range []*[]Count{&st.Dropped, &st.Passed} {
		var per []sinkCounter
		if err := s.objs.Counters.Lookup(uint32(key), &per); err != nil {
			return st, fmt.Errorf("pktgen: read sink: %w", err)
		}
		*dst = make([]Count, len(per))
		for i, c := range per {
			(*dst)[i] = Count{c.Packets, c.Bytes}
		}
	}
	return st, nil
}

// Close detaches the sink.
func (s *Sink) Close() error {
	return errors.Join(s.link.Close(), s.objs.Close())
}

// SetDropTCP makes the sink count and drop TCP segments too (a TCP flood), or pass them again to
// the kernel (connections to a server behind the sink).
func (s *Sink) SetDropTCP(on bool) error {
	var v sinkSettings
	if on {
		v.DropTcp = 1
	}
	if err := s.objs.Config.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("pktgen: sink settings: %w", err)
	}
	return nil
}

// Latency reads the latency histogram of the stamped frames received since the last ResetLatency,
// summed over CPUs.
func (s *Sink) Latency() (Histogram, error) {
	var h Histogram
	var per []uint64
	for b := range uint32(latBuckets) {
		if err := s.objs.LatHist.Lookup(b, &per); err != nil {
			return h, fmt.Errorf("pktgen: read latency: %w", err)
		}
		for _, v := range per {
			h.Buckets[b] += v
		}
	}
	var sums []sinkLatSummary
	if err := s.objs.LatSum.Lookup(uint32(0), &sums); err != nil {
		return h, fmt.Errorf("pktgen: read latency: %w", err)
	}
	for _, c := range sums {
		if c.Count == 0 {
			continue
		}
		if h.Count == 0 || c.Min < h.Min {
			h.Min = c.Min
		}
		h.Max = max(h.Max, c.Max)
		h.Count += c.Count
		h.Sum += c.Sum
	}
	return h, nil
}

// ResetLatency clears the latency histogram.
func (s *Sink) ResetLatency() error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	zeros := make([]uint64, n)
	for b := range uint32(latBuckets) {
		if err := s.objs.LatHist.Put(b, zeros); err != nil {
			return fmt.Errorf("pktgen: reset latency: %w", err)
		}
	}
	if err := s.objs.LatSum.Put(uint32(0), make([]sinkLatSummary, n)); err != nil {
		return fmt.Errorf("pktgen: reset latency: %w", err)
	}
	return nil
}
