package main

import (
	"os"
	"strings"

	"go.uber.org/zap"

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
