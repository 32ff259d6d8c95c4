package testutil

import (
	"os"
	"testing"
)

// RequireRoot skips the test unless it runs as root (uid 0). Tests that
// create namespaces, veth pairs, AF_XDP sockets or XDP programs need it.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: test needs root (network namespaces, AF_XDP, BPF); run as root (`make test`) or with `go test -exec sudo`")
	}
}
