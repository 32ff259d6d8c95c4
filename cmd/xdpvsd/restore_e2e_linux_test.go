package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// restoreRules is -S output for services×perService NAT real servers (not reachable: only the
// configuration is exercised) on ports from port, the real servers of a service not in sorted
// order.
func restoreRules(port, services, perService int) string {
	var b strings.Builder
	for i := range services {
		svc := fmt.Sprintf("-t %s:%d", topo.VIP4, port+i)
		fmt.Fprintf(&b, "-A %s -s sh\n", svc)
		for j := range perService {
			k := i*perService + perService - 1 - j
			fmt.Fprintf(&b, "-a %s -r 198.19.%d.%d:8080 -m -w %d\n", svc, k/250, k%250+1, 1+k%5)
		}
	}
	return b.String()
}

// TestRestoreLargeDaemon: the daemon takes an -R of several requests' size (8,000 real servers,
// near the dataplane's 8,192) as one change and gives it back with -S, in its order, after a -C
// and a second -R of the -S and after a restart from the configuration file; an -R beyond what
// the dataplane holds (20,000) is refused as a whole and changes nothing.
func TestRestoreLargeDaemon(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "xdpvs.conf")
	e := newOpsEnv(t, "restore", 1, "--config", conf)
	adm := binaries(t).adm
	restore := func(rules string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, adm, "--socket", e.d.Socket, "-R")
		cmd.Stdin = strings.NewReader(rules)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("-R of %d lines (%d KiB): %v", strings.Count(rules, "\n"), len(rules)>>10, time.Since(start).Round(time.Millisecond))
		return string(out), err
	}
	rules := restoreRules(1000, 100, 80)
	if out, err := restore(rules); err != nil {
		t.Fatalf("-R: %v\n%s", err, out)
	}
	saved := e.adm1("-S")
	if saved != rules {
		t.Fatalf("-S differs from the rules restored (%d and %d bytes)", len(saved), len(rules))
	}
	e.adm1("-C")
	if out, err := restore(saved); err != nil {
		t.Fatalf("-R of the -S: %v\n%s", err, out)
	}
	if again := e.adm1("-S"); again != saved {
		t.Fatal("-S after -S, -C, -R differs")
	}

	out, err := restore(restoreRules(2000, 250, 80))
	if err == nil || !strings.Contains(out, "dataplane refused the configuration") || !strings.Contains(out, "nothing restored") {
		t.Errorf("-R of 20,000 real servers: %v\n%s", err, out)
	}
	if after := e.adm1("-S"); after != saved {
		t.Error("a refused -R changed the configuration")
	}
	if st := e.adm1("show", "config"); !strings.Contains(st, "Running config:     saved (the file holds it)") {
		t.Errorf("show config:\n%s", st)
	}

	// A restart loads the file: the same -S.
	xdpvsd := binaries(t).xdpvsd
	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}
	d, err := topo.StartDaemon(e.nat.Director, xdpvsd, t.TempDir(), e.nat.Ifaces(), "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	if got := e.adm1("-S"); !bytes.Equal([]byte(got), []byte(saved)) {
		t.Error("-S after a restart differs")
	}
}
