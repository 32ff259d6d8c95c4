package synproxy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpvs/xdpvs/header"
)

// Config sets up Cookies. The zero value of a field means its default (DefaultConfig).
type Config struct {
	// Slot is the length of a cookie time slot. A cookie verifies in the slot it was made in and the
	// next one, so it lives between Slot and 2×Slot. Default 64 s; at least 1 s.
	Slot time.Duration
	// Window is the (unscaled) window of our SYN/ACK. Default 65535. A zero window (DPVS's choice)
	// cannot be configured: if the client's ACK were lost, its zero-window probes (sequence number
	// ISN, RFC 9293 §3.8.6.1) would never validate and the connection would hang.
	Window uint16
	// WindowScale is the shift we announce in our SYN/ACK when the client asked for window scaling.
	// Default 7 (what Linux announces with its default buffers); at most 14. Translate rescales the
	// real server's windows when its shift differs.
	WindowScale uint8
	// TTL is the TTL (hop limit) of the SYN/ACKs and resets we build. Default 64.
	TTL uint8
	// MSS4 and MSS6 are the MSS we announce in our SYN/ACK when Answer is passed 0. Defaults 1460 and
	// 1440 (a 1500-byte MTU).
	MSS4, MSS6 uint16
	// Rand is the source of the secrets and of the timestamp offset. Default crypto/rand.Reader.
	Rand io.Reader
	// Secret, if set, is a cluster's: the secrets are derived from it, one per generation
	// (RotateTo), and so is the timestamp offset, so that every director with the same Secret
	// and Epoch makes and checks the same cookies (connection sync: a cookie ACK may reach another
	// director than the SYN did). Rand is not used.
	Secret []byte
	// Epoch is added to the times passed in (a monotonic clock) to make them wall-clock time, for
	// the slots of a cluster's cookies; 0 with a Secret of its own.
	Epoch int64
}

// Defaults of Config.
const (
	DefaultSlot        = 64 * time.Second
	DefaultWindow      = 65535
	DefaultWindowScale = 7
	DefaultTTL         = 64
	DefaultMSS4        = 1460
	DefaultMSS6        = 1440
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Slot: DefaultSlot, Window: DefaultWindow, WindowScale: DefaultWindowScale, TTL: DefaultTTL,
		MSS4: DefaultMSS4, MSS6: DefaultMSS6, Rand: rand.Reader,
	}
}

// ErrConfig is wrapped by New for an invalid Config.
var ErrConfig = errors.New("invalid config")

func (c *Config) fill() error {
	d := DefaultConfig()
	if c.Slot == 0 {
		c.Slot = d.Slot
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.WindowScale == 0 {
		c.WindowScale = d.WindowScale
	}
	if c.TTL == 0 {
		c.TTL = d.TTL
	}
	if c.MSS4 == 0 {
		c.MSS4 = d.MSS4
	}
	if c.MSS6 == 0 {
		c.MSS6 = d.MSS6
	}
	if c.Rand == nil {
		c.Rand = d.Rand
	}
	switch {
	case c.Slot < time.Second:
		return fmt.Errorf("synproxy: slot %v is shorter than 1s: %w", c.Slot, ErrConfig)
	case c.WindowScale > header.TCPMaximumWSShift:
		return fmt.Errorf("synproxy: window scale %d is above %d: %w", c.WindowScale, header.TCPMaximumWSShift, ErrConfig)
	case c.MSS4 < 88 || c.MSS6 < 88:
		return fmt.Errorf("synproxy: MSS %d/%d is below 88: %w", c.MSS4, c.MSS6, ErrConfig)
	}
	return nil
}

// MSS tables: the MSS values a cookie can carry, indexed by its 3-bit MSS field. A client's MSS is
// rounded down to the largest entry not above it (below the first entry, to the first entry, the
// protocol's default MSS: RFC 9293 §3.7.1 for IPv4, RFC 8200 §5 minimum MTU for IPv6). The entries
// follow common MTUs: 1500 Ethernet, 1492 PPPoE, 1480 6in4, 1420-1440 VPNs, 9000 jumbo frames.
var (
	mssTable4 = [8]uint16{536, 1300, 1360, 1400, 1440, 1452, 1460, 8960}
	mssTable6 = [8]uint16{1220, 1300, 1340, 1380, 1420, 1432, 1440, 8940}
)

// MSSTable returns the MSS table of the family.
func MSSTable(v6 bool) [8]uint16 {
	if v6 {
		return mssTable6
	}
	return mssTable4
}

// mssIndex returns the index of the largest table entry ≤ mss, or 0.
func mssIndex(mss uint16, v6 bool) uint32 {
	t := &mssTable4
	if v6 {
		t = &mssTable6
	}
	for i := len(t) - 1; i > 0; i-- {
		if mss >= t[i] {
			return uint32(i)
		}
	}
	return 0
}

// Cookie layout (our ISN), least significant bits first:
//
//	with timestamps (WS and SACK-permitted ride in our TSval, see tsOpts):
//	 31                                                  6   5  4 3  2   0
//	+------------------------------------------------------+---+----+------+
//	|                 MAC, 26 bits                         | K | T  | MSS  |
//	+------------------------------------------------------+---+----+------+
//	without timestamps:
//	 31                                  11  10  9     6   5  4 3  2   0
//	+--------------------------------------+---+--------+---+----+------+
//	|             MAC, 21 bits             | S |   WS   | K | T  | MSS  |
//	+--------------------------------------+---+--------+---+----+------+
//
// MSS is the index into the MSS table, T the time slot modulo 4, K the parity of the key generation
// (which of the current and previous secret made it), WS the client's shift (15: no window scaling),
// S SACK-permitted. MAC is the top bits of SipHash-2-4, keyed with the secret, over saddr, daddr,
// sport, dport, the client's ISN, the full slot number and the option data (MSS index, WS, S, and
// whether timestamps are in use), so every field of the cookie and of the TSval's low bits is
// authenticated. T and K select the one slot and the one key to try, so a check costs one hash.
const (
	ckMSSMask   = 0x7
	ckSlotShift = 3
	ckSlotMask  = 0x3
	ckKeyShift  = 5
	ckWSShift   = 6
	ckSACKShift = 10
	ckMACMaskTS = 0xFFFFFFC0 // bits 6-31
	ckMACMask   = 0xFFFFF800 // bits 11-31
	wsNone      = 0xF
)

// Our TSval when the client sent timestamps carries the client's WS and SACK-permitted in its low 6
// bits, as Linux does (net/ipv4/syncookies.c, TS_OPT_*), and the client echoes it in the ACK's TSecr:
//
//	bits 0-3  the client's window-scale shift, 15 if it sent none
//	bit  4    SACK-permitted
//	bit  5    reserved (Linux: ECN), 0: we do not negotiate ECN
const (
	tsOptBits  = 6
	tsOptMask  = 1<<tsOptBits - 1
	tsOptSACK  = 1 << 4
	tsOptResvd = 1 << 5
)

// key is one secret.
type key struct {
	k0, k1 uint64
	gen    uint32
}

// keyPair is immutable once published: Rotate builds a new one.
type keyPair struct{ cur, prev key }

// Cookies makes and checks SYN cookies. One value serves every worker: Answer, Validate and the
// rest read it without locks (the secrets sit behind an atomic pointer to an immutable pair), and
// Rotate swaps them from the control path.
type Cookies struct {
	cfg    Config
	slotNs uint64
	tsOff  uint32
	keys   atomic.Pointer[keyPair]
	mu     sync.Mutex // serializes Rotate
}

// New returns Cookies with fresh secrets (current and previous) and a random timestamp offset.
func New(cfg Config) (*Cookies, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	c := &Cookies{cfg: cfg, slotNs: uint64(cfg.Slot)}
	if cfg.Secret != nil {
		t := sha256.Sum256(append([]byte("xdpvs synproxy ts offset\x00"), cfg.Secret...))
		c.tsOff = binary.LittleEndian.Uint32(t[:])
		c.RotateTo(0)
		return c, nil
	}
	var b [4]byte
	if _, err := io.ReadFull(cfg.Rand, b[:]); err != nil {
		return nil, fmt.Errorf("synproxy: read random: %w", err)
	}
	c.tsOff = binary.LittleEndian.Uint32(b[:])
	prev, err := c.newKey(0)
	if err != nil {
		return nil, err
	}
	cur, err := c.newKey(1)
	if err != nil {
		return nil, err
	}
	c.keys.Store(&keyPair{cur: cur, prev: prev})
	return c, nil
}

func (c *Cookies) newKey(gen uint32) (key, error) {
	var b [16]byte
	if _, err := io.ReadFull(c.cfg.Rand, b[:]); err != nil {
		return key{}, fmt.Errorf("synproxy: read random: %w", err)
	}
	return key{k0: binary.LittleEndian.Uint64(b[:]), k1: binary.LittleEndian.Uint64(b[8:]), gen: gen}, nil
}

// RotateTo makes the secret of generation gen (derived from Config.Secret) current, and the one of
// gen-1 the previous one; a cluster calls it with the same gen everywhere (e.g. wall-clock time /
// rotation period). It does nothing without a Secret, or when gen is current already.
func (c *Cookies) RotateTo(gen uint32) {
	if c.cfg.Secret == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kp := c.keys.Load(); kp != nil && kp.cur.gen == gen {
		return
	}
	c.keys.Store(&keyPair{cur: c.derivedKey(gen), prev: c.derivedKey(gen - 1)})
}

func (c *Cookies) derivedKey(gen uint32) key {
	var g [4]byte
	binary.BigEndian.PutUint32(g[:], gen)
	h := sha256.Sum256(append(append([]byte("xdpvs synproxy cookie key\x00"), g[:]...), c.cfg.Secret...))
	return key{k0: binary.LittleEndian.Uint64(h[:8]), k1: binary.LittleEndian.Uint64(h[8:16]), gen: gen}
}

// Rotate makes a fresh secret current. Cookies made with the one it replaces still verify; those made
// with the one before are dropped (BadCookie). Call it from the control path, at most once per Slot
// to let every handshake in flight finish; readers never wait for it.
func (c *Cookies) Rotate() error {
	if c.cfg.Secret != nil {
		return errors.New("synproxy: the secrets of a cluster's cookies rotate with RotateTo")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.keys.Load()
	k, err := c.newKey(old.cur.gen + 1)
	if err != nil {
		return err
	}
	c.keys.Store(&keyPair{cur: k, prev: old.cur})
	return nil
}

// Config returns the configuration in use, defaults filled in.
func (c *Cookies) Config() Config { return c.cfg }

// slot returns the time slot of now (nanoseconds of a monotonic clock).
func (c *Cookies) slot(now int64) uint32 { return uint32(uint64(now+c.cfg.Epoch) / c.slotNs) }

// tsClock returns our timestamp clock at now: milliseconds plus a random offset (RFC 7323 §5.4).
func (c *Cookies) tsClock(now int64) uint32 { return uint32(uint64(now+c.cfg.Epoch)/1e6) + c.tsOff }

// tsVal returns the TSval of our SYN/ACK: the clock with its low 6 bits replaced by opts, moved back
// by 64 if that put it ahead of the clock (Linux cookie_init_timestamp).
func tsVal(clock, opts uint32) uint32 {
	ts := clock&^tsOptMask | opts
	if opts > clock&tsOptMask {
		ts -= 1 << tsOptBits
	}
	return ts
}

// cookie returns the cookie for the packet's addresses, ports, the client's ISN, a slot, a key and
// the option data.
func cookie(k *key, ip []byte, v6 bool, sport, dport uint16, isn, slot, mss, ws, sack uint32, ts bool) uint32 {
	data := mss | ws<<3 | sack<<7
	if ts {
		data |= 1 << 8
	}
	ports := uint64(sport)<<48 | uint64(dport)<<32 | uint64(isn)
	last := uint64(slot)<<32 | uint64(data)
	var h uint64
	if v6 {
		s, d := header.IPv6(ip).SourceAddress(), header.IPv6(ip).DestinationAddress()
		m := [6]uint64{
			binary.BigEndian.Uint64(s), binary.BigEndian.Uint64(s[8:]),
			binary.BigEndian.Uint64(d), binary.BigEndian.Uint64(d[8:]),
			ports, last,
		}
		h = header.SipHash24(k.k0, k.k1, m[:])
	} else {
		s, d := header.IPv4(ip).SourceAddress(), header.IPv4(ip).DestinationAddress()
		m := [3]uint64{uint64(binary.BigEndian.Uint32(s))<<32 | uint64(binary.BigEndian.Uint32(d)), ports, last}
		h = header.SipHash24(k.k0, k.k1, m[:])
	}
	mac := uint32(h >> 32)
	c := mss | (slot&ckSlotMask)<<ckSlotShift | (k.gen&1)<<ckKeyShift
	if ts {
		return c | mac&ckMACMaskTS
	}
	return c | ws<<ckWSShift | sack<<ckSACKShift | mac&ckMACMask
}

// Answer turns the client's SYN in ip into our SYN/ACK, in place, and returns its length.
//
// ip is an IP packet (IPv4 or IPv6, by its version nibble) starting at the IP header; bytes past the
// packet's IP length are ignored, and cap(ip) must hold the answer (at most 40+20+20 bytes for IPv4,
// 60+20 for IPv6; a SYN without options grows by up to 8 bytes). The answer has a fresh IP header (no
// IPv4 options or IPv6 extension headers, TTL from Config, DF), addresses and ports swapped, our cookie
// as its sequence number, the client's ISN+1 as its acknowledgment number, Config.Window, no payload,
// and full IP and TCP checksums. Its options echo what the client asked for: MSS (mss, or
// Config.MSS4/MSS6 when mss is 0: what the director will accept from the client, that is, the path
// toward the real servers less any TOA room), SACK-permitted, window scale (Config.WindowScale) and
// timestamps (TSecr = the client's TSval). The caller swaps the MAC addresses and sends it back out of
// the port it came in on; nothing is kept.
//
// Window scaling and SACK-permitted are answered with or without timestamps (the client's shift and
// SACK-permitted ride in our TSval with timestamps, in the cookie without; Linux drops both without
// timestamps). ECN is not negotiated (no ECE in the SYN/ACK).
//
// The SYN's TCP checksum is verified. On any Result but OK, ip is unchanged and n is 0.
func (c *Cookies) Answer(ip []byte, now int64, mss uint16) (n int, r Result) {
	s, r := parse(ip)
	if r != OK {
		return 0, r
	}
	tcp := header.TCP(ip[s.l4:s.end])
	if tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst|header.TCPFlagFin) != header.TCPFlagSyn {
		return 0, NotSYN
	}
	in, ok := parseOptions(tcp.Options())
	if !ok {
		return 0, Malformed
	}
	if !tcp.IsChecksumValid(pseudo(ip, s.v6, len(tcp))) {
		return 0, BadChecksum
	}
	if mss == 0 {
		mss = c.cfg.MSS4
		if s.v6 {
			mss = c.cfg.MSS6
		}
	}
	idx := uint32(0)
	if in.HasMSS {
		idx = mssIndex(in.MSS, s.v6)
	}
	ws := uint32(wsNone)
	if in.HasWS {
		ws = uint32(in.WS) // ParseTCPSynOptions caps it at 14
	}
	var sack uint32
	if in.SACKPermitted {
		sack = 1
	}
	sport, dport, isn := tcp.SourcePort(), tcp.DestinationPort(), tcp.SequenceNumber()
	kp := c.keys.Load()
	ck := cookie(&kp.cur, ip, s.v6, sport, dport, isn, c.slot(now), idx, ws, sack, in.HasTS)

	out := header.TCPSynOptions{MSS: mss, HasMSS: true, SACKPermitted: in.SACKPermitted}
	if in.HasWS {
		out.HasWS, out.WS = true, c.cfg.WindowScale
	}
	if in.HasTS {
		out.HasTS = true
		out.TSVal = tsVal(c.tsClock(now), ws|sack<<4)
		out.TSEcr = in.TSVal
	}
	var ob [header.TCPSynOptionsMaxSize]byte
	ol := header.EncodeTCPSynOptions(out, ob[:])

	hl := header.IPv4MinimumSize
	if s.v6 {
		hl = header.IPv6MinimumSize
	}
	n = hl + header.TCPMinimumSize + ol
	if n > cap(ip) {
		return 0, NoRoom
	}
	var src, dst [16]byte
	a, b := addrs(ip, s.v6)
	copy(src[:], a)
	copy(dst[:], b)
	ip = ip[:n]
	writeIPHeader(ip, s.v6, &dst, &src, n, c.cfg.TTL)
	t := header.TCP(ip[hl:n])
	writeTCPHeader(t, dport, sport, ck, isn+1, header.TCPFlagSyn|header.TCPFlagAck, c.cfg.Window, ob[:ol])
	t.FillChecksum(pseudo(ip, s.v6, len(t)))
	return n, OK
}

// Handshake is what a valid cookie ACK proves about the client's SYN and our SYN/ACK. It holds no
// pointers; the dataplane keeps it with the connection until the real server answers.
type Handshake struct {
	// Opts are the options the client's SYN negotiated: MSS (rounded down to the MSS table; 536 or
	// 1220 if it sent none), window scale, SACK-permitted, timestamps. TSVal is the client's TSval in
	// the ACK; TSEcr is the TSval of our SYN/ACK as the client echoed it. HasMSS is always true.
	Opts header.TCPSynOptions
	// ClientISN is the client's initial sequence number (the ACK's sequence number − 1).
	ClientISN uint32
	// CookieISN is our initial sequence number, the cookie (the ACK's acknowledgment number − 1).
	CookieISN uint32
	// ProxyWS is the shift our SYN/ACK announced (meaningful when Opts.HasWS).
	ProxyWS uint8
}

// Validate checks that the client's segment in ip (an IP packet, as for Answer) completes a
// handshake we answered: ACK set, SYN and RST clear, its acknowledgment number − 1 a cookie made
// for this tuple and sequence number − 1 in the current or the previous time slot, with the current
// or the previous secret. It recovers the client's options. It reads ip and changes nothing.
//
// Results: OK; NotACK; Malformed or Fragment; BadCookie (not ours, or made with a secret rotated
// out, or a client that sent timestamps in its SYN but not in its ACK); Expired (ours, but two or
// three slots old); BadChecksum (checked only once the cookie verifies). A random acknowledgment number is accepted with probability 2^-27 when the segment
// carries timestamps and 2^-22 otherwise. Cost: one SipHash of 24 (IPv4) or 48 (IPv6) bytes.
func (c *Cookies) Validate(ip []byte, now int64) (h Handshake, r Result) {
	s, r := parse(ip)
	if r != OK {
		return h, r
	}
	tcp := header.TCP(ip[s.l4:s.end])
	if f := tcp.Flags(); f&header.TCPFlagAck == 0 || f&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		return h, NotACK
	}
	opts, ok := parseOptions(tcp.Options())
	if !ok {
		return h, Malformed
	}
	ck := tcp.AckNumber() - 1
	isn := tcp.SequenceNumber() - 1
	var ws, sack uint32
	if opts.HasTS {
		o := opts.TSEcr & tsOptMask
		if o&tsOptResvd != 0 {
			return h, BadCookie
		}
		ws, sack = o&0xF, o>>4&1
	} else {
		ws, sack = ck>>ckWSShift&0xF, ck>>ckSACKShift&1
	}
	if ws != wsNone && ws > header.TCPMaximumWSShift {
		return h, BadCookie
	}
	kp := c.keys.Load()
	k := &kp.cur
	if ck>>ckKeyShift&1 != k.gen&1 {
		k = &kp.prev
	}
	now32 := c.slot(now)
	age := (now32 - ck>>ckSlotShift) & ckSlotMask
	idx := ck & ckMSSMask
	if cookie(k, ip, s.v6, tcp.SourcePort(), tcp.DestinationPort(), isn, now32-age, idx, ws, sack, opts.HasTS) != ck {
		return h, BadCookie
	}
	if age > 1 {
		return h, Expired
	}
	if !tcp.IsChecksumValid(pseudo(ip, s.v6, len(tcp))) {
		return h, BadChecksum
	}
	t := &mssTable4
	if s.v6 {
		t = &mssTable6
	}
	h = Handshake{ClientISN: isn, CookieISN: ck, ProxyWS: c.cfg.WindowScale}
	h.Opts = header.TCPSynOptions{
		MSS: t[idx], HasMSS: true, SACKPermitted: sack != 0,
		HasTS: opts.HasTS, TSVal: opts.TSVal, TSEcr: opts.TSEcr,
	}
	if ws != wsNone {
		h.Opts.HasWS, h.Opts.WS = true, uint8(ws)
	}
	return h, OK
}
