package pktgen

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Reflector sends the IPv4 UDP frames arriving on one interface back out of it as the other
// end's answers (bpf/reflect.c), up to a limit of frames per CPU, and drops them after that. One
// on each side of a forwarder turns a few datagrams into a closed-loop load through it.
type Reflector struct {
	objs reflectObjects
	link link.Link
}

// AttachReflector attaches a reflector to iface in ns (nil: the caller's namespace) in native
// (driver) mode, reflecting up to limit frames per CPU.
func AttachReflector(ns *netns.NS, iface string, limit uint64) (*Reflector, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("pktgen: memlock: %w", err)
	}
	r := &Reflector{}
	if err := loadReflectObjects(&r.objs, nil); err != nil {
		return nil, fmt.Errorf("pktgen: load reflector: %w", err)
	}
	if err := r.SetLimit(limit); err != nil {
		r.objs.Close()
		return nil, err
	}
	var err error
	if r.link, err = attachNative(ns, iface, r.objs.XdpvsReflect); err != nil {
		r.objs.Close()
		return nil, fmt.Errorf("pktgen: attach reflector to %s (native XDP): %w", iface, err)
	}
	return r, nil
}

// Reset sets the counts back to zero.
func (r *Reflector) Reset() error {
	zeros := make([]uint64, ebpf.MustPossibleCPU())
	for key := range 2 {
		if err := r.objs.Counts.Put(uint32(key), zeros); err != nil {
			return fmt.Errorf("pktgen: reset the reflector: %w", err)
		}
	}
	return nil
}

// SetLimit sets how many frames each CPU may reflect, counted since the last Reset (0: drop every
// frame from now on, which ends a loop).
func (r *Reflector) SetLimit(n uint64) error {
	if err := r.objs.Limit.Put(uint32(0), n); err != nil {
		return fmt.Errorf("pktgen: set the reflector's limit: %w", err)
	}
	return nil
}

// Counts returns the frames reflected and dropped (past the limit), summed over the CPUs.
func (r *Reflector) Counts() (reflected, dropped uint64, err error) {
	for key, dst := range []*uint64{&reflected, &dropped} {
		var per []uint64
		if err := r.objs.Counts.Lookup(uint32(key), &per); err != nil {
			return 0, 0, fmt.Errorf("pktgen: read the reflector: %w", err)
		}
		for _, v := range per {
			*dst += v
		}
	}
	return reflected, dropped, nil
}

// Close detaches the reflector.
func (r *Reflector) Close() error {
	return errors.Join(r.link.Close(), r.objs.Close())
}
