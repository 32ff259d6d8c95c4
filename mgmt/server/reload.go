package server

import (
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"
)

// ErrNoConfigFile is Reload's error when the daemon runs without a configuration file.
var ErrNoConfigFile = errors.New("mgmt: reload: the daemon has no configuration file (--config)")

// Reload reads the configuration file again and makes it the running configuration in one
// change, as systemctl reload (SIGHUP) asks: the services, real servers, health checks and
// timeouts of the file replace the running ones atomically. A connection of a service that
// stays keeps its entry (the dataplane matches services by key, not by generation). A file with
// a bad line changes nothing and is reported as "FILE:LINE: reason". The file is not rewritten:
// it already holds what runs. A missing file is refused (an empty one empties the configuration).
// It returns the file's warnings.
func (s *Server) Reload() ([]string, error) {
	path := s.cfg.ConfigPath
	if path == "" {
		return nil, ErrNoConfigFile
	}
	// A missing file is an empty configuration at start (the first one), but here it would take
	// every service away: a file deleted or not yet put back is refused instead.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("mgmt: reload: %w (nothing changed)", err)
	}
	next, warnings, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.install(next, nil, false); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil {
		s.file.saved = fi.ModTime()
	}
	s.log.Info("configuration reloaded", zap.String("path", path), zap.Int("services", len(next.Services())))
	for _, w := range warnings {
		s.log.Warn(w)
	}
	for _, svc := range next.Services() {
		if why := svc.NotForwarding(); len(why) > 0 {
			s.log.Warn(notForwarding(svc.ServiceKey, why))
		}
	}
	s.warnScripts()
	return warnings, nil
}
