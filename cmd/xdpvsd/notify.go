package main

import (
	"fmt"
	"net"
	"os"
)

// systemd's readiness protocol (sd_notify(3)): with Type=notify the service manager passes a
// unix datagram socket in $NOTIFY_SOCKET, and the daemon sends newline-separated assignments on
// it: READY=1 once it serves (the XDP programs attached and the configuration applied),
// RELOADING=1 and READY=1 again around a reload (SIGHUP), STOPPING=1 when it begins to stop, and
// STATUS= a line for systemctl status. A path starting with '@' is in the abstract namespace.
// Without $NOTIFY_SOCKET (not started by systemd) notify does nothing.

// notify sends one message of assignments to $NOTIFY_SOCKET.
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
