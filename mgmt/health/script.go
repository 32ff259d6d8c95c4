package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// scriptChecker is keepalived's MISC_CHECK: SCRIPT RIP RPORT runs with the check's timeout; exit
// status 0 means up. XDPVS_VIP, XDPVS_VPORT and XDPVS_PROTOCOL are in its environment. On timeout
// its whole process group is killed. The script must be one that dir allows, checked again before
// every run.
type scriptChecker struct {
	path string
	svc  model.ServiceKey
	dir  ScriptDir
}

// ScriptDir is the directory of the programs that --check script may run, the daemon's
// --health-scripts: the users of the socket (its group) choose a check's script, and root
// chooses, by this directory, what they may choose from. The zero value allows no script.
type ScriptDir string

// ErrScriptsNotAllowed is Resolve's error when no directory of scripts is configured.
var ErrScriptsNotAllowed = errors.New("--check script is refused: xdpvsd runs health-check scripts only " +
	"from the directory it was started with (--health-scripts DIR), and it was started without one")

// Resolve checks that path may run and returns the file to run, path with its symbolic links
// resolved. The path must be under the directory and so must be the file it leads to (no
// symbolic link out of it); the file must be an executable regular file; the file and every
// directory from the directory itself down to the file's must be owned by root (or by the
// daemon's own user) and writable by no one else (group and others). The error says which rule
// the path breaks.
func (d ScriptDir) Resolve(path string) (string, error) {
	dir, err := d.resolveDir()
	if err != nil {
		return "", err
	}
	clean := filepath.Clean(path)
	if !filepath.IsAbs(path) || !within(filepath.Clean(string(d)), clean) && !within(dir, clean) {
		return "", fmt.Errorf("--script %s is not under the health-scripts directory %s (xdpvsd --health-scripts)", path, d)
	}
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		return "", fmt.Errorf("--script %s: %w", path, err)
	}
	if !within(dir, real) {
		return "", fmt.Errorf("--script %s leads to %s, outside the health-scripts directory %s", path, real, d)
	}
	for p := filepath.Dir(real); p != dir; p = filepath.Dir(p) {
		if err := safeDir(p); err != nil {
			return "", fmt.Errorf("--script %s: %w", path, err)
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("--script %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("--script %s: %s is not an executable file", path, real)
	}
	if err := safe(real, fi); err != nil {
		return "", fmt.Errorf("--script %s: %w", path, err)
	}
	return real, nil
}

// Check tells whether the directory itself is usable: an absolute path to a directory that only
// root (or the daemon's user) may write to. The zero ScriptDir is valid: it allows nothing.
func (d ScriptDir) Check() error {
	if d == "" {
		return nil
	}
	_, err := d.resolveDir()
	return err
}

// resolveDir is the directory with its symbolic links resolved, checked as Check says.
func (d ScriptDir) resolveDir() (string, error) {
	if d == "" {
		return "", ErrScriptsNotAllowed
	}
	if !filepath.IsAbs(string(d)) {
		return "", fmt.Errorf("health-scripts directory %q: an absolute path is needed", string(d))
	}
	dir, err := filepath.EvalSymlinks(string(d))
	if err != nil {
		return "", fmt.Errorf("health-scripts directory: %w", err)
	}
	if err := safeDir(dir); err != nil {
		return "", fmt.Errorf("health-scripts directory %s: %w", d, err)
	}
	return dir, nil
}

// within tells whether p is below dir (both clean and absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func safeDir(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	return safe(p, fi)
}

// safe tells whether p (described by fi) is owned by root or the daemon's user and writable by
// no one else.
func safe(p string, fi os.FileInfo) error {
	uid, ok := fileOwner(fi)
	if !ok {
		return fmt.Errorf("%s: the owner of a file is not known on this system", p)
	}
	if uid != 0 && int(uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by root", p, uid)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s is writable by its group or others (mode %04o)", p, m)
	}
	return nil
}

// maxScriptOutput is how much of a script's output is kept for the log.
const maxScriptOutput = 256

type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxScriptOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *scriptChecker) Check(ctx context.Context, target netip.AddrPort) error {
	path, err := c.dir.Resolve(c.path)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, target.Addr().String(), strconv.Itoa(int(target.Port())))
	cmd.Env = append(os.Environ(),
		"XDPVS_VIP="+c.svc.Address.String(),
		"XDPVS_VPORT="+strconv.Itoa(int(c.svc.Port)),
		"XDPVS_PROTOCOL="+c.svc.Protocol.String())
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setProcessGroup(cmd)
	cmd.WaitDelay = time.Second // a child left holding the output open
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("script timed out")
	}
	msg := strings.TrimSpace(out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if msg != "" {
			return fmt.Errorf("exit status %d: %s", ee.ExitCode(), msg)
		}
		return fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return err
}

func (c *scriptChecker) String() string { return "script " + c.path }
