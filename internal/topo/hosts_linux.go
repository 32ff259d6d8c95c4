package topo

import (
	"errors"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// hosts are the namespaces of one layout, made under one prefix and removed together.
type hosts struct {
	prefix string
	all    []*netns.NS
}

// add makes namespace prefix-name without duplicate address detection (addresses are usable at
// once) and with the given extra sysctls (key=value).
func (h *hosts) add(name string, sysctls ...string) (*netns.NS, error) {
	ns, err := netns.Create(h.prefix + "-" + name)
	if err != nil {
		return nil, err
	}
	h.all = append(h.all, ns)
	for _, c := range append([]string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}, sysctls...) {
		if _, err := ns.Exec("sysctl", "-qw", c); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// Close removes every namespace of the layout (and with them the veths), last made first.
func (h *hosts) Close() error {
	var errs []error
	for i := len(h.all) - 1; i >= 0; i-- {
		errs = append(errs, h.all[i].Delete())
	}
	h.all = nil
	return errors.Join(errs...)
}

// run runs commands in ns, stopping at the first that fails.
func run(ns *netns.NS, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := ns.Exec(c...); err != nil {
			return err
		}
	}
	return nil
}
