// Package api is the wire protocol between xdpvsadm and the daemon, and its client.
//
// One unix stream socket (DefaultSocketPath, 0600, or 0660 with the daemon's socket group). Each
// message is a 4-byte big-endian length and that many bytes of JSON (at most MaxRequestSize for a
// request, MaxResponseSize for a response): a Request {"v":1,"commands":[Command...]} answered by
// a Response {"v":1,"error":...,"index":...,"state":...}. Several exchanges may follow on one
// connection. Changing commands in one request are applied all-or-nothing, and so are those of
// a batch, one change in several requests on one connection (Request.More), for changes larger
// than a request (xdpvsadm -R of thousands of real servers); a listing comes alone and is
// answered with a State: the services with their real servers, counters since -Z, rates,
// health, and, when asked for, connections or per-worker counters. Every JSON key is snake_case.
//
// Client.Call opens one connection per request; Client.Batch sends a change in one request or,
// when it does not fit, in a batch. The package needs nothing but the standard
// library's net and encoding/json besides the model, so the admin tool stays small.
package api
