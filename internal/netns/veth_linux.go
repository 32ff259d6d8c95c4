package netns

import (
	"fmt"
	"regexp"
	"strconv"
)

var channelRE = regexp.MustCompile(`(?s)Current hardware settings:.*?RX:\s+(\d+).*?TX:\s+(\d+)`)

// Veth creates a veth pair, end aName in a and bName in b, each with queues RX and TX queues (so
// AF_XDP can bind queues 0..queues-1), both up with tx checksum offload off (locally generated
// packets then carry full checksums, as a real NIC delivers them) and GRO on (frames redirected
// into a veth are otherwise dropped).
func Veth(a *NS, aName string, b *NS, bName string, queues int) error {
	q := strconv.Itoa(max(queues, 1))
	if _, err := a.Exec("ip", "link", "add", aName, "numtxqueues", q, "numrxqueues", q,
		"type", "veth", "peer", "name", bName, "netns", b.Name, "numtxqueues", q, "numrxqueues", q); err != nil {
		return err
	}
	ends := []struct {
		ns   *NS
		name string
	}{{a, aName}, {b, bName}}
	for _, end := range ends {
		if err := ensureChannels(end.ns, end.name, max(queues, 1)); err != nil {
			return err
		}
		if _, err := end.ns.Exec("ethtool", "-K", end.name, "tx", "off"); err != nil {
			return err
		}
		if _, err := end.ns.Exec("ip", "link", "set", end.name, "up"); err != nil {
			return err
		}
	}
	// GRO only once both ends are up: set before, it leaves the peer dropping every frame
	// redirected or transmitted by XDP into it.
	for _, end := range ends {
		if _, err := end.ns.Exec("ethtool", "-K", end.name, "gro", "on"); err != nil {
			return err
		}
	}
	return nil
}

func ensureChannels(ns *NS, name string, n int) error {
	rx, tx, err := channels(ns, name)
	if err != nil || (rx >= n && tx >= n) {
		return err
	}
	n1 := strconv.Itoa(n)
	if _, err := ns.Exec("ethtool", "-L", name, "rx", n1, "tx", n1); err != nil {
		return err
	}
	if rx, tx, err = channels(ns, name); err == nil && (rx < n || tx < n) {
		err = fmt.Errorf("netns: %s has rx=%d tx=%d channels, want %d", name, rx, tx, n)
	}
	return err
}

func channels(ns *NS, name string) (rx, tx int, err error) {
	out, err := ns.Exec("ethtool", "-l", name)
	if err != nil {
		return 0, 0, err
	}
	m := channelRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("netns: cannot parse `ethtool -l %s`:\n%s", name, out)
	}
	rx, _ = strconv.Atoi(m[1])
	tx, _ = strconv.Atoi(m[2])
	return rx, tx, nil
}
