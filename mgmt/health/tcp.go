package health

import (
	"context"
	"net/netip"
)

// tcpChecker is keepalived's TCP_CHECK: the real server is up when a TCP connection to it opens
// within the timeout.
type tcpChecker struct{ dial DialFunc }

func (c *tcpChecker) Check(ctx context.Context, target netip.AddrPort) error {
	conn, err := c.dial(ctx, "tcp", target.String())
	if err != nil {
		return err
	}
	return conn.Close()
}

func (c *tcpChecker) String() string { return "tcp connect" }
