package api

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Client talks to the daemon over its unix socket: one connection per Call or Batch.
type Client struct {
	Socket string
	// Dial connects to the socket (default: net.DialTimeout("unix", path, 5s)).
	Dial func(path string) (net.Conn, error)
}

// callTimeout bounds one exchange (a long connection listing included), or one whole batch.
const callTimeout = 5 * time.Minute

// Call sends one request and reads the response. Its errors are for the operator: they name the
// socket and, when the daemon cannot be reached, what to check.
func (cl *Client) Call(req *Request) (*Response, error) {
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return cl.exchange(c, req)
}

// Batch applies changing commands as one change, all or nothing: in one request when they fit
// in MaxRequestSize, else in a batch of requests on one connection (Request.More). The response
// is the last request's; its Index counts from cmds[0].
func (cl *Client) Batch(cmds []model.Command) (*Response, error) {
	if len(cmds) > MaxBatchCommands {
		return &Response{Error: fmt.Sprintf("%d commands: at most %d go in one change", len(cmds), MaxBatchCommands)}, nil
	}
	parts, err := split(cmds, MaxRequestSize-256)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 {
		return cl.Call(&Request{Commands: cmds})
	}
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close() // before the last part is sent, this discards the batch
	resp, err := cl.exchange(c, &Request{More: true})
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("xdpvsd at %s takes no change larger than %d bytes (%s): is it older than xdpvsadm?",
			cl.Socket, MaxRequestSize, resp.Error)
	}
	sent := 0
	for _, p := range parts[:len(parts)-1] {
		resp, err := cl.exchange(c, &Request{More: true, Commands: p})
		if err != nil || resp.Error != "" {
			return resp, err
		}
		if sent += len(p); resp.Pending != sent {
			return nil, fmt.Errorf("xdpvsd at %s holds %d commands of the %d sent: nothing changed", cl.Socket, resp.Pending, sent)
		}
	}
	return cl.exchange(c, &Request{Commands: parts[len(parts)-1]})
}

// split cuts cmds into runs whose JSON, with a request's envelope, fits in max bytes.
func split(cmds []model.Command, max int) ([][]model.Command, error) {
	var parts [][]model.Command
	start, size := 0, 0
	for i := range cmds {
		b, err := json.Marshal(&cmds[i])
		if err != nil {
			return nil, err
		}
		if len(b)+1 > max {
			return nil, fmt.Errorf("command %d: %d bytes, more than a request takes", i+1, len(b))
		}
		if size+len(b)+1 > max {
			parts = append(parts, cmds[start:i])
			start, size = i, 0
		}
		size += len(b) + 1 // and a comma
	}
	return append(parts, cmds[start:]), nil
}

func (cl *Client) dial() (net.Conn, error) {
	dial := cl.Dial
	if dial == nil {
		dial = func(path string) (net.Conn, error) { return net.DialTimeout("unix", path, 5*time.Second) }
	}
	c, err := dial(cl.Socket)
	if err != nil {
		return nil, fmt.Errorf("Can't connect to xdpvsd at %s: %v\nIs xdpvsd running, and may you use its socket?", cl.Socket, err)
	}
	_ = c.SetDeadline(time.Now().Add(callTimeout))
	return c, nil
}

// exchange sends req on c and reads the response: all its parts (Request.Parts), joined into one.
func (cl *Client) exchange(c net.Conn, req *Request) (*Response, error) {
	req.V = ProtocolVersion
	if err := WriteFrame(c, req); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: send: %v", cl.Socket, err)
	}
	var resp Response
	if err := ReadFrame(c, &resp, MaxResponseSize); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: receive: %v", cl.Socket, err)
	}
	for resp.More {
		var part Response
		if err := ReadFrame(c, &part, MaxResponseSize); err != nil {
			return nil, fmt.Errorf("xdpvsd at %s: receive a listing's part: %v", cl.Socket, err)
		}
		if part.State != nil {
			if resp.State == nil {
				resp.State = &State{}
			}
			resp.State.Connections = append(resp.State.Connections, part.State.Connections...)
		}
		resp.Error, resp.More = part.Error, part.More
	}
	return &resp, nil
}
