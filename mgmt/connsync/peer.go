package connsync

import (
	"net/netip"
	"slices"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// Drop reasons: of messages received (before and after a peer is known), and of records not sent.
const (
	DropUnknownPeer = "unknown_peer" // from an address that is no --sync-peer
	DropMalformed   = "malformed"    // not an envelope of ours, or an unknown type
	DropBadAuth     = "bad_auth"     // no key authenticates it
	DropReplay      = "replay"       // a sequence number seen, too old, or an epoch older than the peer's
	DropBadLength   = "bad_length"   // records payload not whole records
	DropImportFull  = "import_full"  // records the dataplane's queues had no room for
	DropRateLimited = "rate_limited" // records (or messages) not sent: the peer's rate was used up
	DropSendError   = "send_error"   // records (or messages) the socket refused
	// DigestMismatch counts the services whose scheduler table the peer reported with another
	// digest than ours (each time one starts to differ): not a drop, counted beside them.
	DigestMismatch = "digest_mismatch"
)

// counts are drops by reason.
type counts map[string]uint64

func (c *counts) add(reason string, n uint64) {
	if *c == nil {
		*c = counts{}
	}
	(*c)[reason] += n
}

func (c counts) list() []api.Count {
	out := make([]api.Count, 0, len(c))
	for k, v := range c {
		out = append(out, api.Count{Name: k, Count: v})
	}
	slices.SortFunc(out, func(a, b api.Count) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// peer is one --sync-peer's state, under the channel's lock.
type peer struct {
	addr       netip.AddrPort
	window     replayWindow
	bucket     bucket
	sent, recv api.SyncFlow
	drops      counts
	lastRecv   time.Time
	lags       [lagSamples]time.Duration
	nlags      int
	bulkSent   uint64
	bulking    bool     // a bulk copy to it is under way
	mismatch   []string // services whose table digest differs from ours, as it last reported them
	digestsAt  time.Time
	bulkDone   time.Time
	bulkRecs   uint64
}

const lagSamples = 1024

func newPeer(a netip.AddrPort, rate int) *peer {
	return &peer{addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), bucket: newBucket(rate)}
}

func (p *peer) lag(d time.Duration) {
	p.lags[p.nlags%lagSamples] = max(d, 0)
	p.nlags++
}

// lagQuantiles are the p50 and p99 of the last lag samples.
func (p *peer) lagQuantiles() (p50, p99 time.Duration) {
	n := min(p.nlags, lagSamples)
	if n == 0 {
		return 0, 0
	}
	s := slices.Clone(p.lags[:n])
	slices.Sort(s)
	return s[n/2], s[min(n-1, n*99/100)]
}

func (p *peer) state() api.SyncPeer {
	p50, p99 := p.lagQuantiles()
	return api.SyncPeer{Address: p.addr, Sent: p.sent, Recv: p.recv, Drops: p.drops.list(), LastRecv: p.lastRecv,
		LagP50: p50, LagP99: p99, BulkSent: p.bulkSent, BulkDone: p.bulkDone, BulkRecs: p.bulkRecs,
		DigestMismatch: slices.Clone(p.mismatch), DigestsAt: p.digestsAt}
}

// bucket is a token bucket of messages: rate a second, bursts of a tenth of a second's.
type bucket struct {
	rate, tokens, burst float64
	at                  time.Time
}

func newBucket(rate int) bucket {
	b := float64(max(rate/10, 16))
	return bucket{rate: float64(rate), tokens: b, burst: b}
}

func (b *bucket) take(now time.Time) bool {
	if !b.at.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
