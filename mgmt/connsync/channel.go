package connsync

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

// DefaultPort is the port of --sync-peer and --sync-listen when none is given.
const DefaultPort = 8848

// Config is a channel's.
type Config struct {
	Listen netip.AddrPort   // --sync-listen; its port 0: DefaultPort
	Peers  []netip.AddrPort // --sync-peer
	Keys   Keys             // --sync-key
	Syncer control.Syncer
	Log    *zap.Logger
	// MTU is the path MTU toward the peers (0: 1500); a message fills it with whole records.
	MTU int
	// Rate is the most messages a second sent to each peer (0: DefaultRate).
	Rate int
	// JoinTimeout bounds the wait for the peers' bulk copies (0: DefaultJoinTimeout).
	JoinTimeout time.Duration
	// Every is how often the workers' exports are collected and sent (0: 2 ms).
	Every time.Duration
	// Digests, if set, are this director's scheduler table digests, exchanged with the peers.
	Digests Digests
	// Configured, if set, tells when the director's configuration is in force: the bulk copies
	// are asked for only then (the peers' records name services and real servers, and those of
	// services not configured yet would be refused), within JoinTimeout.
	Configured func() bool
}

// Defaults of Config.
const (
	DefaultRate        = 20000
	DefaultJoinTimeout = 10 * time.Second
)

// Channel is a director's end of connection sync: one UDP socket, a sender and a receiver.
type Channel struct {
	cfg    Config
	conn   *net.UDPConn
	log    *zap.Logger
	recsPM int // records per message

	mu      sync.Mutex
	aeads   [2]cipher.AEAD
	sealer  sealer
	peers   []*peer
	drops   counts // of messages from no peer, or not ours
	started time.Time
	join    string
}

// New checks cfg and opens the channel's socket.
func New(cfg Config) (*Channel, error) {
	if cfg.Syncer == nil || cfg.Log == nil {
		return nil, errors.New("sync: no dataplane or logger")
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	cfg.Rate = cmpOr(cfg.Rate, DefaultRate)
	cfg.JoinTimeout = cmpOr(cfg.JoinTimeout, DefaultJoinTimeout)
	cfg.Every = cmpOr(cfg.Every, 2*time.Millisecond)
	if cfg.Listen.Port() == 0 {
		cfg.Listen = netip.AddrPortFrom(cfg.Listen.Addr(), DefaultPort)
	}
	c := &Channel{cfg: cfg, log: cfg.Log, recsPM: (cfg.MTU - 40 - 8 - Overhead) / control.SyncRecordSize, started: time.Now()}
	if c.recsPM < 1 {
		return nil, fmt.Errorf("sync: an MTU of %d has no room for a record", cfg.MTU)
	}
	var err error
	if c.aeads, err = cfg.Keys.aeads(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	c.sealer.epoch = uint64(time.Now().UnixNano())
	if _, err := rand.Read(c.sealer.prefix[:]); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	for _, a := range cfg.Peers {
		if a.Port() == 0 {
			a = netip.AddrPortFrom(a.Addr(), DefaultPort)
		}
		c.peers = append(c.peers, newPeer(a, cfg.Rate))
	}
	c.join = "waiting"
	if len(c.peers) == 0 {
		c.join = "no peers"
	}
	laddr := net.UDPAddrFromAddrPort(cfg.Listen)
	if !cfg.Listen.Addr().IsValid() {
		laddr = &net.UDPAddr{Port: int(cfg.Listen.Port())} // every address of both families
		c.cfg.Listen = netip.AddrPortFrom(netip.IPv6Unspecified(), cfg.Listen.Port())
	}
	if c.conn, err = net.ListenUDP("udp", laddr); err != nil {
		return nil, fmt.Errorf("sync: listen on %v: %w", cfg.Listen, err)
	}
	_ = c.conn.SetReadBuffer(4 << 20)
	_ = c.conn.SetWriteBuffer(4 << 20)
	return c, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// SetKeys replaces the secrets (a rotation): messages are sealed with the new current one, and
// both it and the previous one are accepted.
func (c *Channel) SetKeys(k Keys) error {
	a, err := k.aeads()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.aeads = a
	c.mu.Unlock()
	return nil
}

// Run sends and receives until ctx is done, then closes the socket.
func (c *Channel) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.receive() }()
	go func() { defer wg.Done(); c.send(ctx) }()
	go func() { defer wg.Done(); c.joinPeers(ctx) }()
	<-ctx.Done()
	_ = c.conn.Close()
	wg.Wait()
}

// Ready reports whether the bulk copy of joining is over: every peer's copy arrived, or the join
// timed out, or there are no peers. Until then the director should announce nothing.
func (c *Channel) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.join != "waiting"
}

// peerOf is the peer with address a (any port), or nil.
func (c *Channel) peerOf(a netip.Addr) *peer {
	for _, p := range c.peers {
		if p.addr.Addr() == a.Unmap() {
			return p
		}
	}
	return nil
}

// sealTo seals and sends one message to p, if its rate allows; it reports whether it went.
func (c *Channel) sealTo(p *peer, t MsgType, payload []byte, recs int, now time.Time) bool {
	c.mu.Lock()
	if !p.bucket.take(now) {
		p.drops.add(DropRateLimited, uint64(max(recs, 1)))
		c.mu.Unlock()
		return false
	}
	msg := c.sealer.seal(make([]byte, 0, Overhead+len(payload)), c.aeads[0], t, payload)
	c.mu.Unlock()
	_, err := c.conn.WriteToUDPAddrPort(msg, p.addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		p.drops.add(DropSendError, uint64(max(recs, 1)))
		return false
	}
	p.sent.Messages++
	p.sent.Records += uint64(recs)
	p.sent.Bytes += uint64(len(msg))
	return true
}
