package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The addresses mgmt puts on the dataplane's interfaces: FULLNAT local addresses given with
// `--add-laddr -F IFNAME`, which the real servers resolve by ARP or ND like any address of the
// director (the kernel answers; the steering program takes the packets to them).

// AddAddress implements Control: a /32 or /128 on ifname (IPv6 without duplicate address
// detection, usable at once, as DPVS's own stack does), unless ifname has a already.
func (d *Dataplane) AddAddress(ifname string, a netip.Addr) (bool, error) {
	link, err := d.link(ifname)
	if err != nil {
		return false, err
	}
	have, err := netlink.AddrList(link, family(a))
	if err != nil {
		return false, fmt.Errorf("dataplane: addresses of %s: %w", ifname, err)
	}
	for _, h := range have {
		if x, ok := netip.AddrFromSlice(h.IP); ok && x.Unmap() == a {
			return false, nil
		}
	}
	if err := netlink.AddrAdd(link, hostAddr(a)); err != nil {
		return false, fmt.Errorf("dataplane: add %s to %s: %w", a, ifname, err)
	}
	return true, nil
}

// RemoveAddress implements Control.
func (d *Dataplane) RemoveAddress(ifname string, a netip.Addr) error {
	link, err := d.link(ifname)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(link, hostAddr(a)); err != nil {
		return fmt.Errorf("dataplane: remove %s from %s: %w", a, ifname, err)
	}
	return nil
}

// link is the netlink link of the dataplane's interface name.
func (d *Dataplane) link(name string) (netlink.Link, error) {
	names := make([]string, len(d.ports))
	for i, p := range d.ports {
		if p.Name == name {
			l, err := netlink.LinkByIndex(p.Ifindex)
			if err != nil {
				return nil, fmt.Errorf("dataplane: interface %s: %w", name, err)
			}
			return l, nil
		}
		names[i] = p.Name
	}
	return nil, fmt.Errorf("%s is not an interface of xdpvsd (it forwards on %s)", name, strings.Join(names, ", "))
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func hostAddr(a netip.Addr) *netlink.Addr {
	n := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}
	if a.Is6() {
		n.Flags = unix.IFA_F_NODAD
	}
	return n
}
