package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/health"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

const (
	maxClients   = 32               // connections served at once; more are refused
	idleTimeout  = 60 * time.Second // between two requests on one connection
	writeTimeout = 30 * time.Second
)

// Config is how the daemon wires the management plane.
type Config struct {
	Control control.Control
	Logger  *zap.Logger
	// SocketPath is the unix socket (default api.DefaultSocketPath); its directory is created 0755.
	SocketPath string
	// SocketGroup, if set, is a group (name or id) allowed to connect: the socket is then 0660 with
	// that group. Otherwise it is 0600, for root only.
	SocketGroup string
	// ConfigPath, if set, is loaded at start and rewritten atomically after every change.
	ConfigPath string
	// HealthScripts is the directory of the programs that --check script may run (xdpvsd
	// --health-scripts): see health.ScriptDir. Empty: none, and such a check is refused.
	HealthScripts string
	// Announcer, if set, is the daemon's announcement policy: show bgp, drain and undrain.
	Announcer Announcer
	// Sync, if set, is the connection-sync channel: show sync, and the readiness of ha ready.
	Sync Syncer
	// WorkerChoice says how the daemon chose its number of workers (xdpvsd --workers), for show
	// workers.
	WorkerChoice string
	// HA, if set, makes the director one of an active/standby pair (ha.go): ha role, and a
	// dataplane on standby unless the role is master.
	HA *HAConfig
	// Readiness are the conditions of `xdpvsadm ha ready`, asked in order (ha.go).
	Readiness []Readiness

	dial      health.DialFunc                                        // health checks' dialer (tests); default health.DefaultDial
	writeFile func(path string, data []byte, perm os.FileMode) error // (tests) default writeFileAtomic
	maxBatch  int                                                    // (tests) default api.MaxBatchCommands
}

// Server is the management plane: it owns the configuration model, applies it to the dataplane
// and serves xdpvsadm over a unix socket.
type Server struct {
	cfg  Config
	log  *zap.Logger
	ln   *net.UnixListener
	sock os.FileInfo // the socket file as created, to remove only our own

	mu    sync.Mutex // serializes changes; guards m, stats, hs, file and addrs
	m     *model.Model
	stats *statsKeeper
	hs    *healthState
	file  fileState
	addrs map[ifAddr]bool // the interface addresses of m (addrs.go): true where the server added it
	tabs  schedTables     // the consistent schedulers' tables last applied (tables.go)
	ha    *haState

	ctx     context.Context // of the health probers, cancelled by Close
	cancel  context.CancelFunc
	dial    health.DialFunc
	scripts health.ScriptDir
	probers sync.WaitGroup

	sem       chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New loads cfg.ConfigPath (if set), applies it through cfg.Control and listens on the socket. A
// bad configuration file is refused with "FILE:LINE: reason" and nothing is applied.
func New(cfg Config) (*Server, error) {
	if cfg.Control == nil {
		return nil, errors.New("mgmt: no dataplane control")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = api.DefaultSocketPath
	}
	if cfg.maxBatch == 0 {
		cfg.maxBatch = api.MaxBatchCommands
	}
	if cfg.writeFile == nil {
		cfg.writeFile = writeFileAtomic
	}
	s := &Server{cfg: cfg, log: cfg.Logger, m: model.New(), stats: newStatsKeeper(), hs: newHealthState(), addrs: map[ifAddr]bool{},
		sem: make(chan struct{}, maxClients), dial: cfg.dial, scripts: health.ScriptDir(cfg.HealthScripts)}
	if s.dial == nil {
		s.dial = health.DefaultDial
	}
	var err error
	if s.ha, err = newHAState(cfg.HA); err != nil {
		return nil, err
	}
	if err := s.scripts.Check(); err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	var warnings []string
	if cfg.ConfigPath != "" {
		m, w, err := loadConfig(cfg.ConfigPath)
		if err != nil {
			return nil, err
		}
		s.m, warnings = m, w
		if fi, err := os.Stat(cfg.ConfigPath); err == nil {
			s.file.saved = fi.ModTime()
		}
	}
	got, _, err := s.addAddrs(s.m)
	if err != nil {
		return nil, fmt.Errorf("mgmt: apply %s: %w", cfg.ConfigPath, err)
	}
	sn := s.snapshot(s.m)
	if err := cfg.Control.Apply(sn); err != nil {
		s.takeOff(got)
		if cfg.ConfigPath != "" {
			return nil, fmt.Errorf("mgmt: apply %s: %w", cfg.ConfigPath, err)
		}
		return nil, fmt.Errorf("mgmt: apply the empty configuration: %w", err)
	}
	s.keepAddrs(s.m, got)
	s.tabs.applied(sn)
	if cfg.ConfigPath != "" {
		s.log.Info("configuration loaded", zap.String("path", cfg.ConfigPath), zap.Int("services", len(s.m.Services())))
		for _, w := range warnings {
			s.log.Warn(w)
		}
		for _, svc := range s.m.Services() {
			if why := svc.NotForwarding(); len(why) > 0 {
				s.log.Warn(notForwarding(svc.ServiceKey, why))
			}
		}
		s.warnScripts()
	}
	ln, fi, err := listen(cfg.SocketPath, cfg.SocketGroup)
	if err != nil {
		s.dropAddrs()
		return nil, err
	}
	s.ln, s.sock = ln, fi
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	s.syncHealth()
	s.logSorry()
	s.mu.Unlock()
	return s, nil
}

// listen creates the socket under a temporary name, sets its mode and group, and renames it into
// place, so that it is never reachable with looser permissions. A stale socket of a crashed daemon
// is replaced; a live one is an error.
func listen(path, group string) (*net.UnixListener, os.FileInfo, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("mgmt: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("mgmt: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("mgmt: %s is in use by a running daemon", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, nil, fmt.Errorf("mgmt: remove stale socket: %w", err)
		}
	}
	mode, gid := os.FileMode(0o600), -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, nil, err
		}
		mode, gid = 0o660, g
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("mgmt: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("mgmt: socket group: %w", err))
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(fmt.Errorf("mgmt: socket mode: %w", err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("mgmt: socket: %w", err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
}

func lookupGroup(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("mgmt: socket group: %w", err)
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("mgmt: socket group %s: gid %q", name, g.Gid)
	}
	return id, nil
}

// Serve accepts clients until ctx is done or Close is called, then removes the socket file.
// It also runs the rate estimator.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		s.Close()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.estimate(ctx)
	}()
	defer wg.Wait()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("accept", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.log.Warn("too many clients, refusing one")
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_ = api.WriteFrame(c, &api.Response{V: api.ProtocolVersion, Error: "daemon busy: too many clients"})
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.sem }()
			s.handle(ctx, c)
		}()
	}
}

// Close stops accepting and the health checks, removes the socket file (if it is still ours) and
// takes off the interface addresses the server added (a restart adds them again).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.probers.Wait()
		s.closeErr = s.ln.Close()
		if fi, err := os.Lstat(s.cfg.SocketPath); err == nil && os.SameFile(fi, s.sock) {
			os.Remove(s.cfg.SocketPath)
		}
		s.dropAddrs()
	})
	return s.closeErr
}

// dropAddrs takes off every interface address the server added.
func (s *Server) dropAddrs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.takeOff(s.addrs)
	s.addrs = map[ifAddr]bool{}
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving a client", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	var b batch // of this connection only: gone with it
	for {
		if ctx.Err() != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		var req api.Request
		err := api.ReadFrame(c, &req, api.MaxRequestSize)
		if errors.Is(err, io.EOF) {
			return
		}
		var resp *api.Response
		var rest func(send func(*api.Response) error) error
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			s.log.Warn("bad request", zap.Error(err))
			resp = &api.Response{V: api.ProtocolVersion, Error: "bad request: " + err.Error()}
		} else {
			resp, rest = s.do(&req, &b)
		}
		send := func(r *api.Response) error {
			_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
			return api.WriteFrame(c, r)
		}
		if err := send(resp); err != nil {
			s.log.Warn("write response", zap.Error(err))
			return
		}
		if err != nil {
			return // the stream may be out of step after a bad frame
		}
		if rest != nil {
			if err := rest(send); err != nil {
				s.log.Warn("write a listing's part", zap.Error(err))
				return
			}
		}
	}
}

// batch is the open batch of a connection (api.Request.More): the commands held until its last
// request.
type batch struct {
	open bool
	cmds []model.Command
}

// do runs one request, or takes it into the connection's batch b. It never panics on bad input:
// a panic in a command is turned into an error (and discards the batch). For a connection listing
// in parts (api.Request.Parts), resp is the first part and rest sends the others.
func (s *Server) do(req *api.Request, b *batch) (resp *api.Response, rest func(send func(*api.Response) error) error) {
	resp = &api.Response{V: api.ProtocolVersion}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic running a request", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			*b = batch{}
			resp, rest = &api.Response{V: api.ProtocolVersion, Error: fmt.Sprintf("internal error: %v", r)}, nil
		}
	}()
	if req.V != api.ProtocolVersion {
		*b = batch{}
		resp.Error = fmt.Sprintf("unsupported protocol version %d (this daemon speaks %d)", req.V, api.ProtocolVersion)
		return resp, nil
	}
	if req.More || b.open {
		return s.batchPart(req, b), nil
	}
	if len(req.Commands) == 0 {
		resp.Error = "empty request"
		return resp, nil
	}
	first := &req.Commands[0]
	list := first
	switch first.Op {
	case model.OpDrain, model.OpUndrain, model.OpHARole, model.OpHAReady:
		if err := s.director(req.Commands); err != nil {
			resp.Error = err.Error()
		}
		return resp, nil
	case model.OpShow:
		if len(req.Commands) != 1 {
			resp.Error = "show must be the only command of a request"
			return resp, nil
		}
		if s.show(first, resp) {
			return resp, nil
		}
		list = &model.Command{Op: model.OpList, List: model.ListOptions{Connections: first.Show == model.ShowConnections}}
	case model.OpList, model.OpSave, model.OpGetLaddr, model.OpZero:
		if len(req.Commands) != 1 {
			resp.Error = fmt.Sprintf("%s must be the only command of a request", first.Op)
			return resp, nil
		}
		if first.Op == model.OpZero {
			if err := s.zero(first); err != nil {
				resp.Error = err.Error()
			}
			return resp, nil
		}
	default:
		var err error
		if resp.Warnings, resp.Index, err = s.change(req.Commands); err != nil {
			resp.Error = err.Error()
		}
		return resp, nil
	}
	return s.list(req, list, first.Op == model.OpShow)
}

// show answers the show verbs that are not listings of the services into resp, and reports
// whether it did.
func (s *Server) show(c *model.Command, resp *api.Response) bool {
	switch {
	case c.Show.Workers():
		resp.State = &api.State{Workers: api.Workers(s.cfg.Control.Stats().Workers), Defense: s.defense(), WorkerChoice: s.cfg.WorkerChoice}
	case c.Show == model.ShowConfig:
		resp.State = &api.State{Config: s.ConfigStatus()}
	case c.Show == model.ShowBGP:
		resp.State = &api.State{BGP: s.BGP()}
	case c.Show == model.ShowSync:
		resp.State = &api.State{Sync: s.Sync()}
	case c.Show == model.ShowHA:
		resp.State = &api.State{HA: s.HA()}
	case c.Show == model.ShowPick:
		s.mu.Lock()
		picks, err := s.tabs.pick(s.m, c)
		s.mu.Unlock()
		if err != nil {
			resp.Error = err.Error()
		}
		resp.State = &api.State{Picks: picks}
	case !slices.Contains(model.ShowVerbs, c.Show):
		resp.Error = fmt.Sprintf("show: unknown %q", c.Show)
	default:
		return false
	}
	return true
}

// director runs a command about the director rather than its configuration: drain, undrain,
// ha role, ha ready.
func (s *Server) director(cmds []model.Command) error {
	switch cmds[0].Op {
	case model.OpHARole:
		return s.haRole(cmds)
	case model.OpHAReady:
		if err := s.Ready(); err != nil {
			return fmt.Errorf("not ready: %w", err)
		}
		return nil
	}
	return s.drain(cmds)
}

// list answers listing c of req: with the State even on error for a show verb (as it always did),
// and for connections in parts when req takes them.
func (s *Server) list(req *api.Request, c *model.Command, show bool) (*api.Response, func(send func(*api.Response) error) error) {
	resp := &api.Response{V: api.ProtocolVersion}
	st, err := s.read(c)
	if err != nil {
		resp.Error = err.Error()
		if show {
			resp.State = st
		}
		return resp, nil
	}
	resp.State = st
	if c.Op == model.OpList && c.List.Connections {
		if req.Parts {
			resp.More = true
			return resp, s.connParts
		}
		if err := s.conns(st); err != nil {
			resp.Error = err.Error()
		}
	}
	return resp, nil
}

// batchPart takes one request of a batch: with More, it adds the request's commands to b;
// without, it applies b and them as one change. Anything refused discards the batch.
func (s *Server) batchPart(req *api.Request, b *batch) *api.Response {
	resp := &api.Response{V: api.ProtocolVersion}
	held := len(b.cmds)
	for i := range req.Commands {
		if op := req.Commands[i].Op; !op.Changes() {
			*b = batch{}
			resp.Error, resp.Index = fmt.Sprintf("command %q cannot be combined with others", op), held+i+1
			return resp
		}
	}
	if held+len(req.Commands) > s.cfg.maxBatch {
		*b = batch{}
		resp.Error = fmt.Sprintf("a change of more than %d commands", s.cfg.maxBatch)
		return resp
	}
	b.open = true
	b.cmds = append(b.cmds, req.Commands...)
	if req.More {
		resp.Pending = len(b.cmds)
		return resp
	}
	cmds := b.cmds
	*b = batch{}
	if len(cmds) == 0 {
		return resp
	}
	var err error
	if resp.Warnings, resp.Index, err = s.change(cmds); err != nil {
		resp.Error = err.Error()
	}
	return resp
}

// defense is the configured defence of the connection tables.
func (s *Server) defense() model.Defense {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.Defense()
}

// change applies commands all-or-nothing: on a clone of the model, then to the configuration
// file, then to the dataplane (the previous file put back if the dataplane refuses), so that a
// change that cannot be saved does not take effect. It returns the 1-based index of the failing
// command or, on success, the change's warnings (logged too): what a command ignored, and each
// service whose real servers or local addresses the change touched that cannot forward.
func (s *Server) change(cmds []model.Command) (warnings []string, index int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.m.Clone()
	for i := range cmds {
		c := &cmds[i]
		if !c.Op.Changes() {
			return nil, i + 1, fmt.Errorf("command %q cannot be combined with others", c.Op)
		}
		w, err := next.Exec(c)
		if err != nil {
			return nil, i + 1, err
		}
		if err := s.allowed(c); err != nil {
			return nil, i + 1, err
		}
		if w != "" {
			warnings = append(warnings, w)
		}
		if w := s.haWarning(c); w != "" {
			warnings = append(warnings, w)
		}
	}
	if index, err := s.install(next, cmds, true); err != nil {
		return nil, index, err
	}
	s.log.Info("configuration changed", zap.Int("commands", len(cmds)), zap.String("first", string(cmds[0].Op)))
	for _, w := range warnings {
		s.log.Warn(w)
	}
	for _, k := range touched(cmds) {
		if svc := next.Find(k); svc != nil {
			if why := svc.NotForwarding(); len(why) > 0 {
				w := notForwarding(k, why)
				s.log.Info(w)
				warnings = append(warnings, w)
			}
		}
	}
	return warnings, 0, nil
}

// install makes next the running configuration, all or nothing: its interface addresses, then
// the configuration file (if save), then the dataplane; the file and the addresses are put back
// if the dataplane refuses. cmds, if any, are the commands that made next: the index returned
// with an error is the one whose interface address could not be added. Called with s.mu held.
func (s *Server) install(next *model.Model, cmds []model.Command, save bool) (index int, err error) {
	got, bad, err := s.addAddrs(next)
	if err != nil {
		return addrCommand(cmds, bad), err
	}
	sn := s.snapshot(next)
	undo := func() error { return nil }
	save = save && s.cfg.ConfigPath != ""
	if save {
		var err error
		if undo, err = s.save(render(next)); err != nil {
			s.takeOff(got)
			s.saveFailed(err)
			s.log.Error("configuration not saved: the change is refused", zap.String("path", s.cfg.ConfigPath), zap.Error(err))
			return 0, fmt.Errorf("configuration not saved, nothing changed: %w", err)
		}
	}
	if err := s.cfg.Control.Apply(sn); err != nil {
		s.log.Warn("dataplane refused the configuration", zap.Error(err))
		s.takeOff(got)
		if uerr := undo(); uerr != nil {
			s.saveFailed(uerr)
			s.log.Error("configuration file: the previous file was not put back after the dataplane refused a change: "+
				"the file holds the refused change, and a restart would load it", zap.String("path", s.cfg.ConfigPath), zap.Error(uerr))
		}
		return 0, fmt.Errorf("dataplane refused the configuration: %w", err)
	}
	if save {
		s.file.saved = time.Now()
	}
	s.m = next
	s.keepAddrs(next, got)
	s.tabs.applied(sn)
	s.stats.forget(next)
	s.hs.dirty = false
	s.syncHealth()
	s.logSorry()
	if s.cfg.Announcer != nil {
		s.cfg.Announcer.Poke()
	}
	return 0, nil
}

// touched lists, once each and in order, the services whose real servers or local addresses cmds
// change: those whose ability to forward a change can take away or leave missing. A new service
// (-A) has no real server yet; that is every recipe's first step and no warning.
func touched(cmds []model.Command) []model.ServiceKey {
	var ks []model.ServiceKey
	for i := range cmds {
		switch c := &cmds[i]; c.Op {
		case model.OpAddServer, model.OpEditServer, model.OpDelServer, model.OpAddLaddr, model.OpDelLaddr:
			if !slices.Contains(ks, c.Service.ServiceKey) {
				ks = append(ks, c.Service.ServiceKey)
			}
		}
	}
	return ks
}

// notForwarding is the warning of a service that cannot forward new connections.
func notForwarding(k model.ServiceKey, why []string) string {
	return fmt.Sprintf("%s cannot forward yet: %s", k, strings.Join(why, "; "))
}

// allowed refuses what the socket's users may not ask for: a script check whose program the
// daemon's configuration (HealthScripts) does not allow. The checker checks again at every run.
func (s *Server) allowed(c *model.Command) error {
	if c.Op == model.OpHealth && c.Health != nil && c.Health.Check == model.CheckScript {
		_, err := s.scripts.Resolve(c.Health.Script)
		return err
	}
	return nil
}

// warnScripts logs the script checks of a loaded configuration that are not allowed: they are
// loaded (the file is root's) but fail at every run until the script or the daemon's
// --health-scripts is fixed.
func (s *Server) warnScripts() {
	for _, svc := range s.m.Services() {
		if svc.Health.Check != model.CheckScript {
			continue
		}
		if _, err := s.scripts.Resolve(svc.Health.Script); err != nil {
			s.log.Warn("health-check script not allowed: its checks fail", zap.String("service", svc.ServiceKey.String()), zap.Error(err))
		}
	}
}

func (s *Server) zero(c *model.Command) error {
	ds := s.cfg.Control.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.HasService {
		s.stats.zero(ds, nil)
		return nil
	}
	if s.m.Find(c.Service.ServiceKey) == nil {
		return model.ErrNoService
	}
	k := c.Service.DataplaneKey()
	s.stats.zero(ds, &k)
	return nil
}

// read answers a listing, without its connections (see conns and connParts).
func (s *Server) read(c *model.Command) (*api.State, error) {
	var ds *control.Stats
	if c.Op == model.OpList && !c.List.Timeout && !c.List.Connections {
		ds = s.cfg.Control.Stats()
	}
	s.mu.Lock()
	st := listing(s.m)
	s.tabs.fill(st)
	if c.Op == model.OpList {
		s.fillHealth(st, true)
	}
	if ds != nil {
		s.stats.fill(st, ds)
	}
	s.mu.Unlock()
	if c.HasService {
		i := slicesIndex(st.Services, c.Service.ServiceKey)
		if i < 0 {
			return nil, model.ErrNoService
		}
		st.Services = st.Services[i : i+1]
	}
	return st, nil
}

// conns adds the dataplane's connections to st, at most api.MaxConnListing: a listing in one
// response.
func (s *Server) conns(st *api.State) error {
	return s.cfg.Control.Connections(func(cs []control.ConnInfo) bool {
		st.Connections = appendConns(st.Connections, cs[:min(len(cs), api.MaxConnListing-len(st.Connections))])
		return len(st.Connections) < api.MaxConnListing
	})
}

// connParts sends the dataplane's connections as they come, a part per batch, and then the last
// part (with the error of an incomplete listing). It returns send's error: the client is gone.
func (s *Server) connParts(send func(*api.Response) error) error {
	var serr error
	err := s.cfg.Control.Connections(func(cs []control.ConnInfo) bool {
		serr = send(&api.Response{V: api.ProtocolVersion, More: true, State: &api.State{Connections: appendConns(nil, cs)}})
		return serr == nil
	})
	if serr != nil {
		return serr
	}
	last := &api.Response{V: api.ProtocolVersion}
	if err != nil {
		s.log.Warn("connection listing incomplete", zap.Error(err))
		last.Error = err.Error()
	}
	return send(last)
}

// appendConns appends the dataplane's connections cs to out as the API lists them.
func appendConns(out []api.Conn, cs []control.ConnInfo) []api.Conn {
	for _, ci := range cs {
		out = append(out, api.Conn{
			Protocol:    model.Protocol(ci.Proto),
			Client:      ci.Client,
			Virtual:     ci.Virtual,
			Local:       ci.Local,
			Destination: ci.Dest,
			State:       ci.State,
			Expires:     uint32(max(ci.Expires, 0) / time.Second),
		})
	}
	return out
}

func slicesIndex(ss []api.ServiceState, k model.ServiceKey) int {
	for i := range ss {
		if ss[i].ServiceKey == k {
			return i
		}
	}
	return -1
}

// estimate samples the counters every EstimatorInterval for the rates.
func (s *Server) estimate(ctx context.Context) {
	t := time.NewTicker(EstimatorInterval * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sampleRates(EstimatorInterval)
		}
	}
}

func (s *Server) sampleRates(interval float64) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic sampling rates", zap.Any("panic", r))
		}
	}()
	ds := s.cfg.Control.Stats()
	s.mu.Lock()
	s.stats.sample(ds, interval)
	s.passiveCheck(ds)
	s.mu.Unlock()
}

// Observe returns what a metrics exporter reads at a scrape: the services with their real
// servers, rates, effective weights and health (and the sorry server while in use), and the
// dataplane's raw counters (not reset by -Z).
func (s *Server) Observe() (*api.State, *control.Stats) {
	ds := s.cfg.Control.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := listing(s.m)
	s.tabs.fill(st)
	s.fillHealth(st, true)
	s.stats.fill(st, ds)
	return st, ds
}

// Logger is the server's logger.
func (s *Server) Logger() *zap.Logger { return s.log }

// listing is the state of m without counters: api.StateOf.
func listing(m *model.Model) *api.State { return api.StateOf(m) }
