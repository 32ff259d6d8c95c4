package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane"
	"github.com/xdpvs/xdpvs/mgmt/health"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// handleReload reloads the configuration file on every SIGHUP received on hup (systemctl
// reload) until the returned function is called: RELOADING=1, Server.Reload, READY=1. A file that
// does not load is logged and changes nothing; the daemon goes on with what it runs.
func handleReload(hup <-chan os.Signal, srv *server.Server, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			notifyOrLog(log, "RELOADING=1")
			if _, err := srv.Reload(); err != nil {
				log.Error("reload refused: the running configuration is unchanged", zap.Error(err))
				notifyOrLog(log, "READY=1\nSTATUS=reload refused: "+firstLine(err.Error()))
				continue
			}
			notifyOrLog(log, "READY=1\nSTATUS=configuration reloaded")
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// notifyOrLog sends state to systemd, logging a failure (the daemon runs on without it).
func notifyOrLog(log *zap.Logger, state string) {
	if err := notify(state); err != nil {
		log.Warn("systemd notification not sent", zap.Error(err))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// workersBy says how the number of workers was chosen, for the start-up line.
func workersBy(flag string) string {
	if flag != "auto" {
		return "--workers " + flag
	}
	return fmt.Sprintf("auto: receive queues of the interfaces, at most %d CPUs (%s)", len(dataplane.WorkerCPUs()), cpuList(dataplane.WorkerCPUs()))
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}

// checkError is an error of --check-config, printed as it is (FILE:LINE: reason).
type checkError struct{ err error }

func (e checkError) Error() string { return e.err.Error() }

// checkConfig is --check-config: the file and the flags that bear on it (--health-scripts, the
// dataplane's options) checked as the daemon checks them at start, without touching an interface.
// A missing file is an error here (the daemon would start empty: a typo, most likely).
func checkConfig(o *options, out io.Writer) error {
	path := o.checkConfig
	if _, err := os.Stat(path); err != nil {
		return checkError{err}
	}
	summary, warnings, err := server.CheckConfig(path)
	if err != nil {
		return checkError{err}
	}
	if err := health.ScriptDir(o.scripts).Check(); err != nil {
		return fmt.Errorf("--health-scripts: %w", err)
	}
	if _, err := o.dataplaneConfig(zap.NewNop()); err != nil {
		return err
	}
	if err := o.sync.check(); err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	fmt.Fprintf(out, "%s: OK: %s\n", path, summary)
	return nil
}
