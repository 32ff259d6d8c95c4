package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// loadConfig reads a configuration file into a new model. A missing file is an empty
// configuration (the first start); any bad line refuses the whole file.
func loadConfig(path string) (*model.Model, error) {
	m := model.New()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	defer f.Close()
	cmds, lines, err := cli.ParseNumberedRules(f, path)
	if err != nil {
		return nil, err
	}
	for i := range cmds {
		if err := m.Exec(&cmds[i]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, lines[i], err)
		}
	}
	return m, nil
}

// saveConfig writes m to path atomically: a temporary file in the same directory, fsync, rename,
// fsync of the directory.
func saveConfig(path string, m *model.Model) error {
	st := listing(m)
	api.SortState(st)
	var buf bytes.Buffer
	cli.WriteRules(&buf, st)
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
