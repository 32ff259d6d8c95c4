package connsync

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Digests are the scheduler table digests of the services with a consistent scheduler (mh, sh,
// dh; sched.Digest), as the server lists them (api.ServiceState.TableDigest): directors with the
// same digest for a service pick the same real server for every flow. The channel sends its own
// to every peer every DigestEvery (MsgDigests) and compares the peers' with its own: a service
// both directors have whose digests differ is logged once and counted (digest_mismatch), and
// show sync lists it until the digests agree again.
type Digests func() map[model.ServiceKey]string

// DigestEvery is how often the digests go to the peers.
const DigestEvery = 5 * time.Second

// digestEntry is 1 byte protocol, 16 bytes address (IPv4 mapped), 2 bytes port, 8 bytes digest.
const digestEntry = 27

// maxDigests bounds a message's entries (and so its size, under any MTU we use).
const maxDigests = 48

// encodeDigests appends the entries of ds (at most maxDigests, sorted) to dst.
func encodeDigests(dst []byte, ds map[model.ServiceKey]string) []byte {
	keys := make([]model.ServiceKey, 0, len(ds))
	for k := range ds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b model.ServiceKey) int { return cmpKey(a, b) })
	for _, k := range keys[:min(len(keys), maxDigests)] {
		d, err := hex.DecodeString(ds[k])
		if err != nil || len(d) != 8 {
			continue
		}
		a := k.Address.As16()
		dst = append(dst, uint8(k.Protocol))
		dst = append(dst, a[:]...)
		dst = binary.BigEndian.AppendUint16(dst, k.Port)
		dst = append(dst, d...)
	}
	return dst
}

func cmpKey(a, b model.ServiceKey) int {
	if c := a.Address.Compare(b.Address); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return int(a.Protocol) - int(b.Protocol)
}

// decodeDigests reads a MsgDigests payload; false if it is not whole entries.
func decodeDigests(b []byte) (map[model.ServiceKey]string, bool) {
	if len(b)%digestEntry != 0 || len(b)/digestEntry > maxDigests {
		return nil, false
	}
	out := make(map[model.ServiceKey]string, len(b)/digestEntry)
	for ; len(b) > 0; b = b[digestEntry:] {
		k := model.ServiceKey{Protocol: model.Protocol(b[0]), Address: netip.AddrFrom16([16]byte(b[1:17])).Unmap(),
			Port: binary.BigEndian.Uint16(b[17:19])}
		out[k] = hex.EncodeToString(b[19:27])
	}
	return out, true
}

// compareDigests records, under the channel's lock, how the peer's digests compare with ours.
func (c *Channel) compareDigests(p *peer, theirs map[model.ServiceKey]string) {
	if c.cfg.Digests == nil {
		return
	}
	ours := c.cfg.Digests()
	var bad []string
	for k, d := range theirs {
		if o, ok := ours[k]; ok && o != d {
			bad = append(bad, k.String())
		}
	}
	slices.Sort(bad)
	for _, s := range bad {
		if !slices.Contains(p.mismatch, s) {
			p.drops.add(DigestMismatch, 1)
			c.log.Sugar().Warnf("sync: %v's scheduler table for %s differs from ours: it picks other real servers for some flows (compare show digest on both)", p.addr, s)
		}
	}
	p.mismatch, p.digestsAt = bad, time.Now()
}

// sendDigests sends our digests to every peer.
func (c *Channel) sendDigests() {
	if c.cfg.Digests == nil {
		return
	}
	payload := encodeDigests(nil, c.cfg.Digests())
	if len(payload) == 0 {
		return
	}
	for _, p := range c.peers {
		c.sealTo(p, MsgDigests, payload, 0, time.Now())
	}
}
