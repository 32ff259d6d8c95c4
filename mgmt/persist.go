package mgmt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The configuration file is `xdpvsadm -S` output: `--set` (only when the timeouts are not the
// defaults), then per service an `-A` line, its `-a` lines and its `--add-laddr` lines. Blank lines
// and lines starting with '#' are skipped when loading; any changing command is accepted, so a
// hand-written file may also use long options. Loading is all-or-nothing.

// maxConfigLine bounds one line of the configuration file.
const maxConfigLine = 64 << 10

// ParseRules parses rules in the -S format (the -R input, the configuration file), one command per
// line. name is used in errors: "name:LINE: reason".
func ParseRules(r io.Reader, name string) ([]Command, error) {
	cmds, _, err := parseRules(r, name)
	return cmds, err
}

// parseRules is ParseRules that also returns the line number of each command.
func parseRules(r io.Reader, name string) ([]Command, []int, error) {
	var cmds []Command
	var lines []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxConfigLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c, err := ParseArgs(strings.Fields(text))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if !c.Op.changes() {
			return nil, nil, fmt.Errorf("%s:%d: %s: only commands that change the configuration may appear here", name, line, c.Op)
		}
		cmds = append(cmds, *c)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxConfigLine)
		}
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return cmds, lines, nil
}

// loadConfig reads a configuration file into a new model. A missing file is an empty
// configuration (the first start); any bad line refuses the whole file.
func loadConfig(path string) (*model, error) {
	m := newModel()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	defer f.Close()
	cmds, lines, err := parseRules(f, path)
	if err != nil {
		return nil, err
	}
	for i := range cmds {
		if err := m.exec(&cmds[i]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, lines[i], err)
		}
	}
	return m, nil
}

// saveConfig writes m to path atomically: a temporary file in the same directory, fsync, rename,
// fsync of the directory.
func saveConfig(path string, m *model) error {
	st := m.state()
	sortState(st)
	var buf bytes.Buffer
	WriteRules(&buf, st)
	return writeFileAtomic(path, buf.Bytes(), 0o600)
}

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

// CheckConfig reads and validates a configuration file without applying it: the daemon calls it
// before it sets up the dataplane, so that a bad file stops it before it touches an interface.
// A missing file is an empty configuration.
func CheckConfig(path string) error {
	_, err := loadConfig(path)
	return err
}
