package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig: xdpvsd --check-config FILE validates without an interface (none is given, and
// it needs no root): exit status 0 and a summary for a good file, 1 and FILE:LINE: reason for a
// bad one, 1 for a missing file or a bad flag that bears on it.
func TestCheckConfig(t *testing.T) {
	bin := binaries(t).xdpvsd
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "# a comment\n-A -t 198.18.0.10:80 -s wrr\n-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m -w 2\n"+
		"--health -t 198.18.0.10:80 --check tcp\n")
	for _, tc := range []struct {
		name        string
		args        []string
		rc          int
		out, errOut string
	}{
		{"good", []string{"--check-config", good}, 0, good + ": OK: 1 services, 1 real servers, 1 health checks, 0 local addresses\n", ""},
		{"bad_option", []string{"--check-config", write("bad.conf", "-A -t 198.18.0.10:80\n-a -t 198.18.0.10:80 -r 198.18.1.2 -w 99999\n")},
			1, "", filepath.Join(dir, "bad.conf") + ":2: illegal weight specified\n"},
		{"model_error", []string{"--check-config", write("dup.conf", "-A -t 198.18.0.10:80\n\n-A -t 198.18.0.10:80\n")},
			1, "", filepath.Join(dir, "dup.conf") + ":3: Service already exists\n"},
		{"health_error", []string{"--check-config", write("h.conf", "-A -u 198.18.0.10:53\n--health -u 198.18.0.10:53 --check http\n")},
			1, "", filepath.Join(dir, "h.conf") + ":2: a http check is for TCP services\n"},
		{"missing", []string{"--check-config", filepath.Join(dir, "nope.conf")}, 1, "",
			"stat " + filepath.Join(dir, "nope.conf") + ": no such file or directory\n"},
		{"bad_flag", []string{"--check-config", good, "--workers", "many"}, 1, "",
			"xdpvsd: --workers \"many\": want a number of workers or auto\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := exec.Command(bin, tc.args...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			rc := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				rc = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if rc != tc.rc || out.String() != tc.out || errOut.String() != tc.errOut {
				t.Errorf("rc %d stdout %q stderr %q\nwant rc %d stdout %q stderr %q", rc, out.String(), errOut.String(), tc.rc, tc.out, tc.errOut)
			}
			if strings.Contains(errOut.String(), "attach") {
				t.Error("an interface was touched")
			}
		})
	}
}
