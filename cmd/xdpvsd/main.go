// Command xdpvsd is the xdpvs daemon: it forwards on the given interfaces with one AF_XDP worker
// per queue and serves xdpvsadm on a unix socket.
//
//	xdpvsd --iface IF [--iface IF2 ...] [--socket PATH] [--workers N|auto] [--config FILE] [--metrics ADDR]
//	       [--bgp-as ASN --bgp-router-id ADDR --bgp-peer ADDR,ASN ... [--bgp-hold D] [--drain-time D]]
//	       [--export-table N] [--routed] [--ha]
//	       [--sync-peer ADDR[:PORT] ... --sync-key FILE [--sync-listen ADDR[:PORT]] [--sync-min-age D]]
//	xdpvsd --check-config FILE
//
// Under systemd (Type=notify, packaging/xdpvsd.service) it reports READY=1 once the XDP programs
// are attached and the configuration applied; SIGHUP reads the configuration file again and
// applies it in one change (systemctl reload); SIGTERM or SIGINT stops it. --check-config
// validates a configuration file without touching an interface: exit status 0 if it would
// load, 1 with FILE:LINE: reason if not.
//
// With --bgp-as (or --export-table) the daemon announces its VIPs while it can serve them
// (mgmt/announce, docs/several-directors.md); on SIGTERM it withdraws them first, with
// GRACEFUL_SHUTDOWN for --drain-time, then detaches. With --ha it is one of an active/standby
// pair beside keepalived's VRRP, forwarding only while master (docs/active-standby.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xdpvs/xdpvs/dataplane"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
	"github.com/xdpvs/xdpvs/internal/cliflag"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/health"
	"github.com/xdpvs/xdpvs/mgmt/metrics"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		var ce checkError
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, ce.err) // FILE:LINE: reason, as compilers write it
		} else {
			fmt.Fprintln(os.Stderr, "xdpvsd:", err)
		}
		os.Exit(1)
	}
}

// options are the daemon's flags.
type options struct {
	ifaces                               listFlag
	socket, group, workers, cpus, config string
	attach, level, cpuProfile, metrics   string
	scripts, checkConfig, fastPath       string
	conns, frameSize                     int
	bare, completeSums, ha               bool
	announce                             *announceFlags
	sync                                 *syncFlags
}

// parseFlags reads the command line.
func parseFlags(args []string) (*options, error) {
	o, fs := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(o.ifaces) == 0 && o.checkConfig == "" {
		fs.Usage()
		return nil, errors.New("at least one --iface is needed")
	}
	return o, nil
}

// newFlagSet is the daemon's flags, bound to the options they set: what parseFlags reads and the
// manual page (manual.go) lists.
func newFlagSet() (*options, *flag.FlagSet) {
	o := &options{}
	fs := flag.NewFlagSet("xdpvsd", flag.ContinueOnError)
	fs.Var(&o.ifaces, "iface", "interface to forward on (repeat for several)")
	fs.StringVar(&o.socket, "socket", api.DefaultSocketPath, "unix socket for xdpvsadm")
	fs.StringVar(&o.group, "socket-group", "", "group allowed to use the socket (default: root only)")
	fs.StringVar(&o.workers, "workers", "auto", "workers: a number, or auto (one per receive queue of the interfaces, at most one per CPU); a worker owns its queue of every interface and the queues beyond the workers' count")
	fs.StringVar(&o.cpus, "cpus", "", "comma-separated CPU of each worker (default: the CPUs the daemon may use, CPU 0 last)")
	fs.IntVar(&o.conns, "conns", 1<<18, "connection-table capacity per worker")
	fs.StringVar(&o.config, "config", "", "configuration file (xdpvsadm -S format), loaded at start and saved on every change")
	fs.StringVar(&o.attach, "attach", "auto", "how the XDP program is attached: auto (native, else generic), native or generic")
	fs.IntVar(&o.frameSize, "frame-size", 2048, "UMEM frame size, 2048 or 4096 (largest packet = frame - 256)")
	fs.StringVar(&o.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&o.bare, "bare-forward", false, "benchmark only: forward between two interfaces with no load balancing")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "development: write a CPU profile of the whole run to this file")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on this address (HOST:PORT), at /metrics")
	fs.BoolVar(&o.completeSums, "complete-checksums", false, "finish the TCP/UDP checksums of packets sent with transmit checksum offload by local senders (containers on veth, some virtual NICs), which real servers would drop; costs a full checksum per such packet (event checksums_completed)")
	fs.StringVar(&o.fastPath, "fast-path", "on", "on: the XDP program forwards established connections itself from the record the workers install (per service: --policy no-fast-path); off: every packet goes through the workers")
	fs.StringVar(&o.scripts, "health-scripts", "", "directory of the programs that health checks (--check script) may run: owned by root, writable by no one else (default: none may run)")
	fs.StringVar(&o.checkConfig, "check-config", "", "validate this configuration file (xdpvsadm -S format) and exit, touching no interface: exit status 0 if it would load, 1 with FILE:LINE: reason if not")
	o.announce = addAnnounceFlags(fs)
	o.sync = addSyncFlags(fs)
	fs.BoolVar(&o.ha, "ha", false, "active/standby with keepalived's VRRP (docs/active-standby.md): forward only while xdpvsadm ha role master says so; start on standby unless a VIP or local address of the configuration is already on an interface")
	cliflag.Deprecated(fs, "xdp-mode", "attach", "")
	cliflag.Deprecated(fs, "cpuprofile", "cpu-profile", "")
	return o, fs
}

// newLogger is the daemon's logger: console encoding at level, ISO 8601 times.
func newLogger(level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(level); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

// dataplaneConfig turns the flags into the dataplane's configuration.
func (o *options) dataplaneConfig(log *zap.Logger) (dataplane.Config, error) {
	nworkers := 0 // auto
	if o.workers != "auto" {
		n, err := strconv.Atoi(o.workers)
		if err != nil || n < 1 {
			return dataplane.Config{}, fmt.Errorf("--workers %q: want a number of workers or auto", o.workers)
		}
		nworkers = n
	}
	cfg := dataplane.Config{Interfaces: o.ifaces, Workers: nworkers, Conns: o.conns, Logger: log, BareForward: o.bare,
		CompleteChecksums: o.completeSums, Sync: o.sync.dataplaneConfig()}
	switch o.fastPath {
	case "on":
		cfg.FastPath = true
	case "off":
	default:
		return cfg, fmt.Errorf("--fast-path %q: want on or off", o.fastPath)
	}
	cfg.XSK = dataplane.DefaultXSKOptions()
	cfg.XSK.FrameSize = o.frameSize
	if err := cfg.XSK.Validate(); err != nil {
		return cfg, err
	}
	switch o.attach {
	case "auto":
		cfg.Attach = xsk.AttachAuto
	case "native":
		cfg.Attach = xsk.AttachNative
	case "generic":
		cfg.Attach = xsk.AttachGeneric
	default:
		return cfg, fmt.Errorf("--attach %q: want auto, native or generic", o.attach)
	}
	if o.cpus != "" {
		for _, f := range strings.Split(o.cpus, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 0 {
				return cfg, fmt.Errorf("--cpus: bad CPU %q", f)
			}
			cfg.CPUs = append(cfg.CPUs, c)
		}
	}
	return cfg, nil
}

// startProfile writes a CPU profile to path until the returned function is called.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// serveMetrics serves srv's Prometheus metrics on ln, at /metrics, until the returned function is
// called.
func serveMetrics(ln net.Listener, srv *server.Server, log *zap.Logger) func() {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.NewHandler(srv))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("metrics", zap.String("address", ln.Addr().String()))
	return func() { hs.Close() }
}

// run is the daemon: the flags and files checked before any interface is touched, then the
// dataplane, the announcer, the management server and the metrics, until SIGTERM or SIGINT.
func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	log, err := newLogger(o.level)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck
	if o.checkConfig != "" {
		return checkConfig(o, os.Stdout)
	}

	// A bad configuration file stops the daemon before it touches an interface.
	if o.config != "" {
		if _, _, err := server.CheckConfig(o.config); err != nil {
			return err
		}
	}
	if err := health.ScriptDir(o.scripts).Check(); err != nil {
		return fmt.Errorf("--health-scripts: %w", err)
	}
	if err := o.sync.check(); err != nil {
		return err
	}
	var metricsLn net.Listener
	if o.metrics != "" {
		if metricsLn, err = net.Listen("tcp", o.metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metricsLn.Close()
	}
	cfg, err := o.dataplaneConfig(log)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught from here on (its default would end the daemon): one that comes while it
	// starts is a reload once it serves.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if o.cpuProfile != "" {
		stopProfile, err := startProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}

	dp, err := dataplane.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := dp.Close(); err != nil {
			log.Warn("dataplane close", zap.Error(err))
		}
	}()
	scfg := server.Config{Control: dp, Logger: log, SocketPath: o.socket, SocketGroup: o.group, ConfigPath: o.config,
		HealthScripts: o.scripts, WorkerChoice: workersBy(o.workers),
		HA: haConfig(o.ha), Readiness: []server.Readiness{dataplaneReady(dp)}}
	var sy *syncer
	if o.sync.enabled() {
		if sy, err = newSync(o.sync, dp, log); err != nil {
			return err
		}
		scfg.Sync = sy
	}
	var ann *announcer
	if o.announce.enabled() {
		if ann, err = startAnnouncer(o.announce, dp, dp.StandbyLocalAddrs, log); err != nil {
			return err
		}
		defer ann.Shutdown() // withdraw before the dataplane detaches (deferred before this)
		scfg.Announcer = ann
	}
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.ha {
		defer startHA(srv, log)()
	}
	if ann != nil {
		ann.srv.Store(srv) // the policy reads the services from now on
	}
	if sy != nil { // the configuration is in force: peers' records find their services
		sy.srv.Store(srv)
		sctx, cancel := context.WithCancel(ctx)
		wait := sy.run(sctx)
		defer func() { cancel(); wait() }() // the channel stops before the dataplane closes
	}
	if metricsLn != nil {
		defer serveMetrics(metricsLn, srv, log)()
	}
	log.Info("xdpvsd running", zap.Strings("ifaces", o.ifaces), zap.Int("workers", dp.Workers()),
		zap.String("workers_by", workersBy(o.workers)), zap.String("socket", o.socket))
	defer handleReload(hup, srv, log)()
	notifyOrLog(log, fmt.Sprintf("READY=1\nSTATUS=forwarding on %s with %d workers", strings.Join(o.ifaces, ","), dp.Workers()))
	err = srv.Serve(ctx)
	notifyOrLog(log, "STOPPING=1")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("xdpvsd stopping")
	return nil
}
