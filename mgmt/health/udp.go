package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// udpChecker is keepalived's UDP_CHECK: a datagram is sent to the real server; with receive set
// the reply must contain it, otherwise the server is up unless an ICMP error (port or host
// unreachable) comes back within the timeout.
type udpChecker struct {
	dial    DialFunc
	send    []byte
	receive string
}

func (c *udpChecker) Check(ctx context.Context, target netip.AddrPort) error {
	conn, err := c.dial(ctx, "udp", target.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(model.DefaultCheckTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(c.send); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	for {
		n, err := conn.Read(buf)
		switch {
		case err == nil && c.receive == "":
			return nil // any answer will do
		case err == nil && bytes.Contains(buf[:n], []byte(c.receive)):
			return nil
		case err == nil:
			continue // not the answer: wait for another until the deadline
		case errors.Is(err, os.ErrDeadlineExceeded) && c.receive == "" && ctx.Err() != context.Canceled:
			return nil // no ICMP error in time: the port is open
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("no reply containing %q", c.receive)
		}
		return err // ECONNREFUSED: an ICMP port unreachable, and the like
	}
}

func (c *udpChecker) String() string {
	if c.receive != "" {
		return "udp reply"
	}
	return "udp (no ICMP error)"
}
