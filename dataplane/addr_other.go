//go:build !linux

package dataplane

import "net/netip"

func (*Dataplane) AddAddress(string, netip.Addr) (bool, error) { return false, ErrNotSupported }
func (*Dataplane) RemoveAddress(string, netip.Addr) error      { return ErrNotSupported }
