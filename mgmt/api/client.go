package api

import (
	"fmt"
	"net"
	"time"
)

// Client talks to the daemon over its unix socket: one connection per Call.
type Client struct {
	Socket string
	// Dial connects to the socket (default: net.DialTimeout("unix", path, 5s)).
	Dial func(path string) (net.Conn, error)
}

// callTimeout bounds one exchange (a long connection listing included).
const callTimeout = 5 * time.Minute

// Call sends one request and reads the response. Its errors are for the operator: they name the
// socket and, when the daemon cannot be reached, what to check.
func (cl *Client) Call(req *Request) (*Response, error) {
	dial := cl.Dial
	if dial == nil {
		dial = func(path string) (net.Conn, error) { return net.DialTimeout("unix", path, 5*time.Second) }
	}
	c, err := dial(cl.Socket)
	if err != nil {
		return nil, fmt.Errorf("Can't connect to xdpvsd at %s: %v\nIs xdpvsd running, and may you use its socket?", cl.Socket, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	req.V = ProtocolVersion
	if err := WriteFrame(c, req); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: send: %v", cl.Socket, err)
	}
	var resp Response
	if err := ReadFrame(c, &resp, MaxResponseSize); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: receive: %v", cl.Socket, err)
	}
	return &resp, nil
}
