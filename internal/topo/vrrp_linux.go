package topo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Addresses of the VRRP layout (docs/active-standby.md): the client and the directors' d0 on one
// segment where the VIP lives, the directors' d1 and the real servers on another, where the real
// servers' gateway and the FULLNAT local address live. keepalived moves VRRPVIP4, VRRPGateway4
// and VRRPLocal4 to the master; the directors' own addresses stay.
const (
	VRRPVIP4     = "198.18.0.10"
	VRRPClient4  = "198.18.0.2"
	VRRPGateway4 = "198.18.1.1"   // the real servers' default route
	VRRPLocal4   = "198.18.1.100" // the FULLNAT local address
)

// VRRPDir4 is director i's own address on the client segment (d0); VRRPDirRS4 on the real
// servers' (d1).
func VRRPDir4(i int) string   { return fmt.Sprintf("198.18.0.%d", 3+i) }
func VRRPDirRS4(i int) string { return fmt.Sprintf("198.18.1.%d", 250+i) }

// VRRPRS4 is real server i's address.
func VRRPRS4(i int) string { return fmt.Sprintf("198.18.1.%d", 2+i) }

// VRRP is the layout of an active/standby pair: client ═ segment C (bridge brc) ═ d0 of both
// directors; d1 of both directors ═ segment S (bridge brs) ═ the real servers, whose default
// route is the gateway address keepalived moves. The directors do not forward in their kernels
// (ip_forward 0): only xdpvsd forwards.
type VRRP struct {
	Client, Switch *netns.NS
	Dirs, RS       []*netns.NS
	hosts
}

// NewVRRP builds the layout with namespaces prefix-client, -sw, -dir<i>, -rs<i>.
func NewVRRP(prefix string, directors, realServers int) (t *VRRP, err error) {
	t = &VRRP{hosts: hosts{prefix: prefix}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.Switch, err = t.add("sw"); err != nil {
		return nil, err
	}
	for _, br := range []string{"brc", "brs"} {
		if err = run(t.Switch, []string{"ip", "link", "add", br, "type", "bridge"}, []string{"ip", "link", "set", br, "up"}); err != nil {
			return nil, err
		}
	}
	port := func(host *netns.NS, name, swName, br string) error {
		if err := netns.Veth(host, name, t.Switch, swName, 1); err != nil {
			return err
		}
		return run(t.Switch, []string{"ip", "link", "set", swName, "master", br})
	}
	if t.Client, err = t.add("client"); err != nil {
		return nil, err
	}
	if err = port(t.Client, "c0", "sc", "brc"); err != nil {
		return nil, err
	}
	if err = run(t.Client, []string{"ip", "addr", "add", VRRPClient4 + "/24", "dev", "c0"}); err != nil {
		return nil, err
	}
	for i := range directors {
		d, err := t.add("dir" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.Dirs = append(t.Dirs, d)
		n := strconv.Itoa(i)
		if err = port(d, "d0", "sdc"+n, "brc"); err != nil {
			return nil, err
		}
		if err = port(d, "d1", "sds"+n, "brs"); err != nil {
			return nil, err
		}
		if err = run(d,
			[]string{"ip", "addr", "add", VRRPDir4(i) + "/24", "dev", "d0"},
			[]string{"ip", "addr", "add", VRRPDirRS4(i) + "/24", "dev", "d1"},
		); err != nil {
			return nil, err
		}
	}
	for i := range realServers {
		rs, err := t.add("rs" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		t.RS = append(t.RS, rs)
		if err = port(rs, "r0", "sr"+strconv.Itoa(i), "brs"); err != nil {
			return nil, err
		}
		if err = run(rs,
			[]string{"ip", "addr", "add", VRRPRS4(i) + "/24", "dev", "r0"},
			[]string{"ip", "route", "add", "default", "via", VRRPGateway4},
		); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Keepalived is keepalived's VRRP alone (`keepalived --vrrp`) in a namespace, in the foreground,
// with its configuration, pid files and log in a directory of the test's, so that several run
// side by side and none touches a system keepalived.
type Keepalived struct {
	Dir  string
	Log  *SyncBuffer
	cmd  *exec.Cmd
	done chan error
}

// StartKeepalived runs keepalived with config (the text of keepalived.conf) in ns and waits
// until its VRRP process has written its pid file.
func StartKeepalived(ns *netns.NS, dir, config string) (*Keepalived, error) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		return nil, fmt.Errorf("topo: keepalived not installed (apt-get install keepalived): %w", err)
	}
	k := &Keepalived{Dir: dir, Log: new(SyncBuffer), done: make(chan error, 1)}
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, err
	}
	// --dont-respawn: a VRRP process that dies takes the parent with it (a crash is a crash).
	k.cmd = ns.Command("keepalived", "--vrrp", "--dont-fork", "--log-console", "--no-syslog", "--dont-respawn",
		"-f", conf, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.Log, k.Log
	if err := k.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { k.done <- k.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-k.done:
			k.done <- err
			return nil, fmt.Errorf("topo: keepalived exited: %v\n%s", err, k.Log)
		default:
		}
		if pid, _ := k.VRRPPID(); pid > 0 {
			return k, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.Stop()
	return nil, fmt.Errorf("topo: keepalived's VRRP process did not start\n%s", k.Log)
}

// VRRPPID is the pid of keepalived's VRRP process, from its pid file.
func (k *Keepalived) VRRPPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(k.Dir, "vrrp.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Kill ends keepalived as a crash would: SIGKILL to its VRRP process, then to the parent. The
// addresses it holds stay where they are, as after a crash.
func (k *Keepalived) Kill() error {
	if pid, err := k.VRRPPID(); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = k.cmd.Process.Kill()
	select {
	case err := <-k.done:
		k.done <- err
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("topo: keepalived did not die on SIGKILL")
	}
}

// Stop ends keepalived with SIGTERM (it gives up its addresses and tells its peers with a
// priority-0 advertisement), SIGKILL after 10 s; a keepalived already ended is left alone.
func (k *Keepalived) Stop() {
	select {
	case err := <-k.done:
		k.done <- err
		return
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-k.done:
		k.done <- err
	case <-time.After(10 * time.Second):
		_ = k.Kill()
	}
}
