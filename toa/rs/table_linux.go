package rs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Table is an open toa map. Its methods are safe for concurrent use.
type Table struct {
	path string

	mu        sync.Mutex
	m         *ebpf.Map
	id        ebpf.MapID
	lastCheck time.Time
}

// reopenEvery bounds how often a miss checks whether the agent replaced the pinned map (a restart).
var reopenEvery = time.Second

// Open opens the toa map pinned in dir (DefaultPinDir when empty), read-only.
func Open(dir string) (*Table, error) {
	if dir == "" {
		dir = DefaultPinDir
	}
	t := &Table{path: filepath.Join(dir, MapTOA)}
	m, id, err := t.load()
	if err != nil {
		return nil, err
	}
	t.m, t.id, t.lastCheck = m, id, time.Now()
	return t, nil
}

func (t *Table) load() (*ebpf.Map, ebpf.MapID, error) {
	m, err := ebpf.LoadPinnedMap(t.path, &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, 0, fmt.Errorf("toa/rs: open %s: %w (is xdpvs-rs running with --toa?)", t.path, err)
		}
		return nil, 0, fmt.Errorf("toa/rs: open %s: %w", t.path, err)
	}
	if m.KeySize() != KeySize || m.ValueSize() != ValueSize {
		m.Close()
		return nil, 0, fmt.Errorf("toa/rs: %s has key/value sizes %d/%d, want %d/%d (agent of another version?)",
			t.path, m.KeySize(), m.ValueSize(), KeySize, ValueSize)
	}
	info, err := m.Info()
	if err != nil {
		m.Close()
		return nil, 0, fmt.Errorf("toa/rs: info %s: %w", t.path, err)
	}
	id, _ := info.ID()
	return m, id, nil
}

// Close releases the map.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		return nil
	}
	err := t.m.Close()
	t.m = nil
	return err
}

// Lookup returns the client recorded for the connection (local, remote) as the real server sees it.
// On a miss it checks, at most once a second, whether the agent has pinned a new map (after a restart)
// and retries there.
func (t *Table) Lookup(local, remote netip.AddrPort) (netip.AddrPort, bool) {
	k := MakeKey(local, remote)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		return netip.AddrPort{}, false
	}
	var v Value
	if err := t.m.Lookup(&k, &v); err == nil {
		return v.Client(), true
	}
	if time.Since(t.lastCheck) < reopenEvery {
		return netip.AddrPort{}, false
	}
	t.lastCheck = time.Now()
	m, id, err := t.load()
	if err != nil {
		return netip.AddrPort{}, false
	}
	if id == t.id {
		m.Close()
		return netip.AddrPort{}, false
	}
	t.m.Close()
	t.m, t.id = m, id
	if err := t.m.Lookup(&k, &v); err == nil {
		return v.Client(), true
	}
	return netip.AddrPort{}, false
}

// ClientAddr returns the client recorded for conn, a TCP connection accepted by this host (any
// net.Conn whose LocalAddr and RemoteAddr are *net.TCPAddr, such as *net.TCPConn or *tls.Conn).
func (t *Table) ClientAddr(conn net.Conn) (netip.AddrPort, bool) {
	local, remote, ok := connAddrs(conn)
	if !ok {
		return netip.AddrPort{}, false
	}
	return t.Lookup(local, remote)
}

// Entries returns every recorded connection, sorted by local then remote address.
func (t *Table) Entries() ([]Entry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		return nil, errors.New("toa/rs: table closed")
	}
	now := monotonic()
	var (
		k   Key
		v   Value
		out []Entry
	)
	it := t.m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, Entry{Local: k.Local(), Remote: k.Remote(), Client: v.Client(), Age: max(0, now-v.Seen())})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("toa/rs: iterate %s: %w", t.path, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Local.Compare(out[j].Local); c != 0 {
			return c < 0
		}
		return out[i].Remote.Compare(out[j].Remote) < 0
	})
	return out, nil
}

func monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

var (
	defaultMu    sync.Mutex
	defaultTable *Table
	defaultTry   time.Time
)

// PinDirEnv names the environment variable that overrides DefaultPinDir for the package-level
// ClientAddr (for an agent run with --pin).
const PinDirEnv = "XDPVS_RS_PIN"

func defaultDir() string {
	if d := os.Getenv(PinDirEnv); d != "" {
		return d
	}
	return DefaultPinDir
}

// ClientAddr returns the true client of conn as recorded by xdpvs-rs --toa in DefaultPinDir (or
// $XDPVS_RS_PIN): the
// address and port the FULLNAT director carried in the TOA option. ok is false when conn is not a
// TCP connection, when the agent is not running, or when the connection carried no TOA (then
// conn.RemoteAddr() is the peer: NAT, DR and TUN keep the client's address). The map is opened on
// first use (retried at most once a second while it is missing) and kept open.
func ClientAddr(conn net.Conn) (netip.AddrPort, bool) {
	defaultMu.Lock()
	t := defaultTable
	if t == nil && time.Since(defaultTry) >= reopenEvery {
		defaultTry = time.Now()
		if tt, err := Open(defaultDir()); err == nil {
			defaultTable, t = tt, tt
		}
	}
	defaultMu.Unlock()
	if t == nil {
		return netip.AddrPort{}, false
	}
	return t.ClientAddr(conn)
}
