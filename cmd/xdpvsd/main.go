// Command xdpvsd is the xdpvs daemon: it forwards on the given interfaces with one AF_XDP worker
// per queue and serves xdpvsadm on a unix socket.
//
//	xdpvsd --iface IF [--iface IF2 ...] [--socket PATH] [--workers N|auto] [--config FILE] [--metrics ADDR]
//	       [--bgp-as ASN --bgp-router-id ADDR --bgp-peer ADDR,ASN ... [--bgp-hold D] [--drain-time D]]
//	       [--export-table N] [--routed]
//
// With --bgp-as (or --export-table) the daemon announces its VIPs while it can serve them
// (mgmt/announce, docs/several-directors.md); on SIGTERM it withdraws them first, with
// GRACEFUL_SHUTDOWN for --drain-time, then detaches.
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
		fmt.Fprintln(os.Stderr, "xdpvsd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("xdpvsd", flag.ContinueOnError)
	var ifaces listFlag
	fs.Var(&ifaces, "iface", "interface to forward on (repeat for several)")
	socket := fs.String("socket", api.DefaultSocketPath, "unix socket for xdpvsadm")
	group := fs.String("socket-group", "", "group allowed to use the socket (default: root only)")
	workers := fs.String("workers", "auto", "workers: a number, or auto (one per receive queue of the interfaces, at most one per CPU); a worker owns its queue of every interface and the queues beyond the workers' count")
	cpus := fs.String("cpus", "", "comma-separated CPU of each worker (default: the CPUs the daemon may use, CPU 0 last)")
	conns := fs.Int("conns", 1<<18, "connection-table capacity per worker")
	config := fs.String("config", "", "configuration file (xdpvsadm -S format), loaded at start and saved on every change")
	attach := fs.String("attach", "auto", "how the XDP program is attached: auto (native, else generic), native or generic")
	frameSize := fs.Int("frame-size", 2048, "UMEM frame size, 2048 or 4096 (largest packet = frame - 256)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	bare := fs.Bool("bare-forward", false, "benchmark only: forward between two interfaces with no load balancing")
	cpuProfile := fs.String("cpu-profile", "", "development: write a CPU profile of the whole run to this file")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on this address (HOST:PORT), at /metrics")
	completeSums := fs.Bool("complete-checksums", false, "finish the TCP/UDP checksums of packets sent with transmit checksum offload by local senders (containers on veth, some virtual NICs), which real servers would drop; costs a full checksum per such packet (event checksums_completed)")
	scripts := fs.String("health-scripts", "", "directory of the programs that health checks (--check script) may run: owned by root, writable by no one else (default: none may run)")
	af := addAnnounceFlags(fs)
	cliflag.Deprecated(fs, "xdp-mode", "attach", "")
	cliflag.Deprecated(fs, "cpuprofile", "cpu-profile", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(ifaces) == 0 {
		fs.Usage()
		return errors.New("at least one --iface is needed")
	}
	var lvl zapcore.Level
	if err := lvl.Set(*level); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck

	// A bad configuration file stops the daemon before it touches an interface.
	if *config != "" {
		if err := server.CheckConfig(*config); err != nil {
			return err
		}
	}
	if err := health.ScriptDir(*scripts).Check(); err != nil {
		return fmt.Errorf("--health-scripts: %w", err)
	}
	var metricsLn net.Listener
	if *metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", *metricsAddr); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metricsLn.Close()
	}

	nworkers := 0 // auto
	if *workers != "auto" {
		if nworkers, err = strconv.Atoi(*workers); err != nil || nworkers < 1 {
			return fmt.Errorf("--workers %q: want a number of workers or auto", *workers)
		}
	}
	cfg := dataplane.Config{Interfaces: ifaces, Workers: nworkers, Conns: *conns, Logger: log, BareForward: *bare,
		CompleteChecksums: *completeSums}
	cfg.XSK = dataplane.DefaultXSKOptions()
	cfg.XSK.FrameSize = *frameSize
	if err := cfg.XSK.Validate(); err != nil {
		return err
	}
	switch *attach {
	case "auto":
		cfg.Attach = xsk.AttachAuto
	case "native":
		cfg.Attach = xsk.AttachNative
	case "generic":
		cfg.Attach = xsk.AttachGeneric
	default:
		return fmt.Errorf("--attach %q: want auto, native or generic", *attach)
	}
	if *cpus != "" {
		for _, f := range strings.Split(*cpus, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || c < 0 {
				return fmt.Errorf("--cpus: bad CPU %q", f)
			}
			cfg.CPUs = append(cfg.CPUs, c)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
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
	scfg := server.Config{Control: dp, Logger: log, SocketPath: *socket, SocketGroup: *group, ConfigPath: *config,
		HealthScripts: *scripts}
	var ann *announcer
	if af.enabled() {
		if ann, err = startAnnouncer(af, dp, log); err != nil {
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
	if ann != nil {
		ann.srv.Store(srv) // the policy reads the services from now on
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.NewHandler(srv))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := hs.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", zap.Error(err))
			}
		}()
		defer hs.Close()
		log.Info("metrics", zap.String("address", metricsLn.Addr().String()))
	}
	log.Info("xdpvsd running", zap.Strings("ifaces", ifaces), zap.Int("workers", dp.Workers()), zap.String("socket", *socket))
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("xdpvsd stopping")
	return nil
}
