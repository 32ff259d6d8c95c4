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

// Sink counts and drops the UDP frames arriving on one interface, in native XDP mode.
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
	attach := func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		s.link, err = link.AttachXDP(link.XDPOptions{Program: s.objs.XdpvsSink, Interface: ifi.Index, Flags: link.XDPDriverMode})
		return err
	}
	var err error
	if ns == nil {
		err = attach()
	} else {
		err = ns.Do(attach)
	}
	if err != nil {
		s.objs.Close()
		if errors.Is(err, ebpf.ErrNotSupported) {
			err = fmt.Errorf("%w: %w", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("pktgen: attach sink to %s (native XDP): %w", iface, err)
	}
	return s, nil
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
