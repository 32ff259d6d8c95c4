package main

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/mgmt/health"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

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
