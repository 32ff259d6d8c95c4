//go:build !linux

package rs

import (
	"errors"
	"net"
	"net/netip"
)

// ErrNotSupported: BPF maps exist only on Linux.
var ErrNotSupported = errors.New("toa/rs: needs Linux")

// Table is an open toa map; on this platform it cannot be opened.
type Table struct{}

// Open fails: BPF maps exist only on Linux.
func Open(dir string) (*Table, error) { return nil, ErrNotSupported }

// Close does nothing.
func (t *Table) Close() error { return nil }

// Lookup finds nothing.
func (t *Table) Lookup(local, remote netip.AddrPort) (netip.AddrPort, bool) {
	return netip.AddrPort{}, false
}

// ClientAddr finds nothing.
func (t *Table) ClientAddr(conn net.Conn) (netip.AddrPort, bool) { return netip.AddrPort{}, false }

// Entries fails.
func (t *Table) Entries() ([]Entry, error) { return nil, ErrNotSupported }

// ClientAddr finds nothing: there is no agent on this platform.
func ClientAddr(conn net.Conn) (netip.AddrPort, bool) { return netip.AddrPort{}, false }
