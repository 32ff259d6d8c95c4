package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// loadConfig reads a configuration file into a new model, with the warnings of its lines ("FILE:LINE:
// warning"). A missing file is an empty configuration (the first start); any bad line refuses the
// whole file.
func loadConfig(path string) (*model.Model, []string, error) {
	m := model.New()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mgmt: %w", err)
	}
	defer f.Close()
	cmds, lines, err := cli.ParseNumberedRules(f, path)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	for i := range cmds {
		w, err := m.Exec(&cmds[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, lines[i], err)
		}
		if w != "" {
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s", path, lines[i], w))
		}
	}
	return m, warnings, nil
}

// render is the configuration file's content for m: -S output, the real servers of each service
// in configuration order.
func render(m *model.Model) []byte {
	st := listing(m)
	api.SortServices(st)
	var buf bytes.Buffer
	cli.WriteRules(&buf, st)
	return buf.Bytes()
}

// fileState is what the server knows of its configuration file, guarded by Server.mu.
type fileState struct {
	saved     time.Time // last written, or its modification time when loaded
	failures  uint64    // writes that failed: changes refused, or a previous file not put back
	lastErr   string
	lastErrAt time.Time
}

// save writes data as the configuration file before a change takes effect, and returns what
// puts the previous file back (or removes the file if there was none) should the change fail.
func (s *Server) save(data []byte) (undo func() error, err error) {
	path := s.cfg.ConfigPath
	old, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := s.cfg.writeFile(path, data, 0o600); err != nil {
		return nil, err
	}
	return func() error {
		if !existed {
			return os.Remove(path)
		}
		return s.cfg.writeFile(path, old, 0o600)
	}, nil
}

// saveFailed counts a failed write of the configuration file.
func (s *Server) saveFailed(err error) {
	s.file.failures++
	s.file.lastErr, s.file.lastErrAt = err.Error(), time.Now()
}

// writeFileAtomic writes data to path atomically: a temporary file in the same directory,
// fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ConfigStatus tells where the configuration is saved, when it last was, how many saves failed
// and whether the file holds the running configuration: what a restart would load, read and
// compared afresh (a file changed by hand or left holding a refused change differs).
func (s *Server) ConfigStatus() *api.ConfigStatus {
	s.mu.Lock()
	cs := &api.ConfigStatus{Path: s.cfg.ConfigPath, Saved: s.file.saved, SaveFailures: s.file.failures,
		LastError: s.file.lastErr, LastErrorAt: s.file.lastErrAt}
	var running []byte
	if cs.Path != "" {
		running = render(s.m)
	}
	s.mu.Unlock()
	if cs.Path == "" {
		return cs
	}
	m, _, err := loadConfig(cs.Path)
	switch {
	case err != nil:
		cs.Differs, cs.Reason = true, err.Error()
	case !bytes.Equal(render(m), running):
		cs.Differs, cs.Reason = true, "the file holds another configuration than the running one"
	}
	return cs
}

// CheckConfig reads and validates a configuration file without applying it: the daemon calls it
// before it sets up the dataplane, so that a bad file stops it before it touches an interface,
// and xdpvsd --check-config prints what it says. A missing file is an empty configuration. It
// returns a summary of what the file holds and the warnings of its lines.
func CheckConfig(path string) (summary string, warnings []string, err error) {
	m, warnings, err := loadConfig(path)
	if err != nil {
		return "", nil, err
	}
	var servers, checks, laddrs int
	for _, s := range m.Services() {
		servers += len(s.Dests)
		laddrs += len(s.LocalAddrs)
		if s.Health.Enabled() {
			checks++
		}
	}
	return fmt.Sprintf("%d services, %d real servers, %d health checks, %d local addresses",
		len(m.Services()), servers, checks, laddrs), warnings, nil
}
