//go:build !linux

package kroute

import (
	"errors"
	"net/netip"
)

// Proto is the routing protocol number of xdpvs's routes.
const Proto = 250

var errOther = errors.New("kroute: kernel routes need Linux")

// Exporter needs Linux.
type Exporter struct{}

func NewExporter(id int) (*Exporter, error)           { return nil, errOther }
func (e *Exporter) Set(prefixes []netip.Prefix) error { return errOther }
func (e *Exporter) Table() int                        { return 0 }
func (e *Exporter) Close() error                      { return nil }

// Guard needs Linux.
type Guard struct{}

func NewGuard() *Guard                             { return &Guard{} }
func (g *Guard) Set(prefixes []netip.Prefix) error { return errOther }

// Local finds nothing.
func Local(prefixes []netip.Prefix) []netip.Prefix { return nil }
