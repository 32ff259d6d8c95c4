package rs

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// DefaultPinDir is where xdpvs-rs pins its maps unless --pin says otherwise.
const DefaultPinDir = "/sys/fs/bpf/xdpvs-rs"

// Pinned map names under the pin directory.
const (
	MapTOA   = "toa"   // LRU hash: KeySize-byte key → ValueSize-byte value
	MapStats = "stats" // per-CPU array of uint64 counters
)

// Sizes of the toa map's key and value (struct toa_key and struct toa_val in cmd/xdpvs-rs/bpf/rs.c):
//
//	key:   local address [16] | remote address [16] | local port (BE) [2] | remote port (BE) [2]
//	value: client address [16] | client port (BE) [2] | pad [6] | last seen, CLOCK_MONOTONIC ns (host order) [8]
//
// Addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d.
const (
	KeySize   = 36
	ValueSize = 32
)

// Key is the toa map's key in its wire layout.
type Key [KeySize]byte

// Value is the toa map's value in its wire layout.
type Value [ValueSize]byte

// MakeKey builds the key of the connection seen from the real server: local = its own address:port,
// remote = the peer's (the director's local address in FULLNAT).
func MakeKey(local, remote netip.AddrPort) Key {
	var k Key
	l, r := local.Addr().As16(), remote.Addr().As16()
	copy(k[0:16], l[:])
	copy(k[16:32], r[:])
	binary.BigEndian.PutUint16(k[32:], local.Port())
	binary.BigEndian.PutUint16(k[34:], remote.Port())
	return k
}

// Local returns the key's local address and port (IPv4 unmapped).
func (k *Key) Local() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(k[0:16])).Unmap(), binary.BigEndian.Uint16(k[32:]))
}

// Remote returns the key's remote address and port (IPv4 unmapped).
func (k *Key) Remote() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(k[16:32])).Unmap(), binary.BigEndian.Uint16(k[34:]))
}

// MakeValue builds a value (for tests and tools).
func MakeValue(client netip.AddrPort, seen time.Duration) Value {
	var v Value
	c := client.Addr().As16()
	copy(v[0:16], c[:])
	binary.BigEndian.PutUint16(v[16:], client.Port())
	binary.NativeEndian.PutUint64(v[24:], uint64(seen))
	return v
}

// Client returns the client address and port the option carried (IPv4 unmapped).
func (v *Value) Client() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(v[0:16])).Unmap(), binary.BigEndian.Uint16(v[16:]))
}

// Seen returns when the entry was last written, as CLOCK_MONOTONIC time.
func (v *Value) Seen() time.Duration { return time.Duration(binary.NativeEndian.Uint64(v[24:])) }

// Entry is one recorded connection.
type Entry struct {
	Local, Remote netip.AddrPort // the connection as the real server sees it
	Client        netip.AddrPort // the true client, from the TOA option
	Age           time.Duration  // since the last segment carrying the option
}
