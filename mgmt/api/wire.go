package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The wire protocol over the unix socket: each message is a 4-byte big-endian length followed by
// that many bytes of JSON. The client sends a Request, the server answers with a Response; a
// connection may carry several exchanges in turn.
const (
	ProtocolVersion = 1
	// DefaultSocketPath is where the daemon listens unless told otherwise.
	DefaultSocketPath = "/run/xdpvs/xdpvs.sock"
	MaxRequestSize    = 1 << 20   // bytes of one request's JSON
	MaxResponseSize   = 256 << 20 // bytes of one response's JSON (connection listings can be long)
	// MaxBatchCommands bounds the commands of one batch (see Request.More): far more than the
	// dataplane holds (1,024 services, 8,192 real servers), a few tens of MiB of the daemon's
	// memory per connection.
	MaxBatchCommands = 1 << 17
)

// Request asks the daemon to run commands. Changing commands in one request are applied
// all-or-nothing; a listing (-L, -S, --get-laddr) or -Z comes alone.
//
// A batch is one change in several requests on one connection, for changes larger than
// MaxRequestSize (xdpvsadm -R): a first request with More and no commands opens it (a daemon
// without batches refuses that as an empty request, changing nothing), requests with More add
// their changing commands to it and are answered with Pending (the commands held so far), and
// the first request without More adds its commands and applies the whole batch as one change,
// all or nothing, answered as one request would be (Index counts from the batch's first command).
// Any other outcome changes nothing: a request in the batch that is refused discards it, and so
// does a connection that closes or falls idle before the end.
//
// Parts says that the client takes a connection listing (-Lc, show connections) in parts: the
// daemon then answers with a first Response holding the listing's State without connections,
// then as many Responses as it takes, each with a State holding only further connections, all
// with More set, and a last one without More (Error set if the listing is incomplete). It
// streams the connections as the workers list them, without holding them, and a listing has no
// size limit. Without Parts (an older client), the listing comes in one Response, of at most
// MaxConnListing connections. A daemon without parts ignores Parts and answers in one Response.
type Request struct {
	V        int             `json:"v"`
	More     bool            `json:"more,omitempty"`
	Parts    bool            `json:"parts,omitempty"`
	Commands []model.Command `json:"commands"`
}

// MaxConnListing bounds a connection listing in one Response (to a Request without Parts).
const MaxConnListing = 1 << 20

// Response is the daemon's answer. Error is empty on success; Index is the 1-based position of the
// command that failed in the request (in the batch). State is the answer to a listing; Pending the
// number of commands a batch holds after a request with More. More says that another part of a
// listing follows (see Request.Parts). Warnings come with a change that succeeded: a part of a
// command ignored (DPVS's -j on a UDP service), a service the change leaves unable to forward
// (model.Service.NotForwarding).
type Response struct {
	V        int      `json:"v"`
	Error    string   `json:"error,omitempty"`
	Index    int      `json:"index,omitempty"`
	State    *State   `json:"state,omitempty"`
	Pending  int      `json:"pending,omitempty"`
	More     bool     `json:"more,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ErrTooLarge is ReadFrame's error for a message longer than its limit.
var ErrTooLarge = errors.New("message too large")

// WriteFrame writes v as one message.
func WriteFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// ReadFrame reads one message of at most max bytes into v. io.EOF means the peer closed cleanly
// between messages.
func ReadFrame(r io.Reader, v any, max int) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(max) {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return json.Unmarshal(b, v)
}
