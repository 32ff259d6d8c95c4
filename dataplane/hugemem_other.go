//go:build !linux

package dataplane

import "github.com/xdpvs/xdpvs/conntrack"

func newConnTable(capacity int, now int64, onExpire func(uint32, *conntrack.Entry[connVal]) bool) *conntrack.Table[connVal] {
	return conntrack.New(capacity, now, onExpire)
}
