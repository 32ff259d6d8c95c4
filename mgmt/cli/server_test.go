package cli

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestConnectionRefused(t *testing.T) {
	var errb strings.Builder
	rc := Admin(Env{Stderr: &errb, Stdout: io.Discard}, []string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "-Ln"})
	if rc != 1 || !strings.Contains(errb.String(), "Can't connect to xdpvsd at") {
		t.Errorf("rc %d: %s", rc, errb.String())
	}
}
