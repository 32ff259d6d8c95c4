package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/connsync"
	"github.com/xdpvs/xdpvs/mgmt/model"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// syncFlags are connection sync's (docs/connection-sync.md).
type syncFlags struct {
	peers          listFlag
	key, listen    string
	minAge, join   time.Duration
	rate           int
	keys           connsync.Keys
	peerAddrs      []netip.AddrPort
	listenAddrPort netip.AddrPort
}

func addSyncFlags(fs *flag.FlagSet) *syncFlags {
	f := &syncFlags{}
	fs.Var(&f.peers, "sync-peer", "sync connections with this director, ADDR[:PORT] (default port 8848; repeat for several; needs --sync-key)")
	fs.StringVar(&f.key, "sync-key", "", "file of the sync secret: the current one on the first line, the previous one (still accepted) on an optional second")
	fs.StringVar(&f.listen, "sync-listen", "", "address to receive sync messages on, ADDR[:PORT] (default: every address, port 8848)")
	fs.DurationVar(&f.minAge, "sync-min-age", 0, "sync only connections at least this old (0: every established one)")
	fs.DurationVar(&f.join, "sync-join-timeout", connsync.DefaultJoinTimeout, "how long a starting director waits for its peers' bulk copies before it is ready")
	fs.IntVar(&f.rate, "sync-rate", connsync.DefaultRate, "most sync messages a second to each peer")
	return f
}

func (f *syncFlags) enabled() bool { return len(f.peers) > 0 }

// parseAddrPort reads ADDR[:PORT], IPv6 as ADDR or [ADDR]:PORT; port 0 when none.
func parseAddrPort(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want ADDR or ADDR:PORT ([ADDR]:PORT for IPv6)", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// check reads the key file and the addresses, before any interface is touched.
func (f *syncFlags) check() error {
	if !f.enabled() {
		if f.key != "" || f.listen != "" || f.minAge != 0 {
			return errors.New("--sync-key, --sync-listen and --sync-min-age need --sync-peer")
		}
		return nil
	}
	if f.key == "" {
		return errors.New("--sync-peer needs --sync-key FILE: every sync message is authenticated and encrypted")
	}
	var err error
	if f.keys, err = connsync.LoadKeys(f.key); err != nil {
		return fmt.Errorf("--sync-key: %w", err)
	}
	for _, p := range f.peers {
		ap, err := parseAddrPort(p)
		if err != nil {
			return fmt.Errorf("--sync-peer %w", err)
		}
		f.peerAddrs = append(f.peerAddrs, ap)
	}
	if f.listen != "" {
		if f.listenAddrPort, err = parseAddrPort(f.listen); err != nil {
			return fmt.Errorf("--sync-listen %w", err)
		}
	}
	if f.minAge < 0 || f.rate < 1 || f.join <= 0 {
		return errors.New("--sync-min-age must not be negative, --sync-rate and --sync-join-timeout must be positive")
	}
	return nil
}

// dataplaneConfig is the dataplane's side: export on, the cluster secret from the current key.
func (f *syncFlags) dataplaneConfig() dataplane.SyncConfig {
	if !f.enabled() {
		return dataplane.SyncConfig{}
	}
	s := connsync.ClusterSecret(f.keys.Current)
	return dataplane.SyncConfig{Enabled: true, MinAge: f.minAge, Secret: s[:]}
}

// syncer is the running channel, for the server (show sync) with the dataplane's counters.
type syncer struct {
	ch  *connsync.Channel
	dp  *dataplane.Dataplane
	f   *syncFlags
	log *zap.Logger
	srv atomic.Pointer[server.Server] // for the digests, once it runs
	// configured's last fingerprint of the configuration and when it changed (the join's
	// goroutine alone reads and writes them).
	confSum [32]byte
	confAt  time.Time
}

// newSync opens the channel (its socket), to run once the configuration is in force.
func newSync(f *syncFlags, dp *dataplane.Dataplane, log *zap.Logger) (*syncer, error) {
	s := &syncer{dp: dp, f: f, log: log}
	ch, err := connsync.New(connsync.Config{Listen: f.listenAddrPort, Peers: f.peerAddrs, Keys: f.keys, Syncer: dp,
		Log: log.Named("sync"), Rate: f.rate, JoinTimeout: f.join, Digests: s.digests, Configured: s.configured})
	if err != nil {
		return nil, err
	}
	s.ch = ch
	return s, nil
}

// quiet is how long the configuration must be unchanged, with a service, to count as in force
// (a script that configures the daemon after its start runs its commands in a burst).
const quiet = time.Second

// configured tells whether the configuration is in force: some service, and no change for quiet.
func (s *syncer) configured() bool {
	srv := s.srv.Load()
	if srv == nil {
		return false
	}
	st := srv.Listing()
	h := sha256.New()
	for _, ss := range st.Services {
		fmt.Fprintf(h, "%v %d %v|", ss.ServiceKey, len(ss.RealServers), ss.LocalAddrs)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	now := time.Now()
	if sum != s.confSum {
		s.confSum, s.confAt = sum, now
	}
	return len(st.Services) > 0 && now.Sub(s.confAt) >= quiet
}

// digests are the services' scheduler table digests, as the server lists them (none before it
// runs).
func (s *syncer) digests() map[model.ServiceKey]string {
	srv := s.srv.Load()
	if srv == nil {
		return nil
	}
	out := map[model.ServiceKey]string{}
	for _, ss := range srv.Listing().Services {
		if ss.TableDigest != "" {
			out[ss.ServiceKey] = ss.TableDigest
		}
	}
	return out
}

// run runs the channel until ctx ends (the bulk copy is asked for now: the services the peers'
// records name must be configured); the returned function waits for it.
func (s *syncer) run(ctx context.Context) func() {
	done := make(chan struct{})
	go func() { s.ch.Run(ctx); close(done) }()
	go s.f.watchKey(ctx, s.ch, s.log)
	s.log.Info("connection sync", zap.Stringer("listen", s.ch.Status().Listen), zap.Strings("peers", s.f.peers))
	return func() { <-done }
}

// watchKey re-reads the key file every 5 s and rotates when it changed (the current secret to
// seal with, the previous one still accepted). The cluster secret (SYN cookies, owner hash) stays
// the one the daemon started with.
func (f *syncFlags) watchKey(ctx context.Context, ch *connsync.Channel, log *zap.Logger) {
	sum := func(k connsync.Keys) [32]byte {
		return sha256.Sum256(append(append([]byte{}, k.Current...), append([]byte{0}, k.Previous...)...))
	}
	last := sum(f.keys)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k, err := connsync.LoadKeys(f.key)
		if err != nil {
			log.Warn("sync: key file not reloaded; the keys in use stay", zap.Error(err))
			continue
		}
		if s := sum(k); s != last {
			if err := ch.SetKeys(k); err != nil {
				log.Warn("sync: new keys refused", zap.Error(err))
				continue
			}
			last = s
			log.Info("sync: keys rotated from the key file")
		}
	}
}

// Sync implements server.Syncer: the channel's state with the dataplane's sync_* counters.
func (s *syncer) Sync() *api.SyncState {
	st := s.ch.Status()
	sums := map[string]uint64{}
	var names []string
	for _, w := range s.dp.Stats().Workers {
		for _, e := range w.Events {
			if len(e.Name) > 5 && e.Name[:5] == "sync_" {
				if _, ok := sums[e.Name]; !ok {
					names = append(names, e.Name)
				}
				sums[e.Name] += e.Count
			}
		}
	}
	for _, n := range names {
		st.Exports = append(st.Exports, api.Count{Name: n, Count: sums[n]})
	}
	return st
}

// Ready implements server.Syncer.
func (s *syncer) Ready() bool { return s.ch.Ready() }
