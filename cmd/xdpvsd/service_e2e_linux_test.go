package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/testutil"
	"github.com/xdpvs/xdpvs/internal/topo"
)

// The service tests: `make install` into a directory of the test's, the unit it installs checked by
// systemd-analyze, and xdpvsd started as that unit starts it: its ExecStart with the environment file's
// words, its capability bounding set and no_new_privs (setpriv), a NOTIFY_SOCKET of the test's.

// installed is the result of `make install PREFIX=root/usr SYSCONFDIR=root/etc`.
type installed struct {
	root, prefix, sysconf string
	unit                  string // the unit file's path
}

// mustInstall runs `make install` of the test's binaries (not rebuilt: -o build) into a
// temporary tree, and returns where things went.
func mustInstall(t *testing.T) *installed {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	b := binaries(t)
	in := &installed{root: t.TempDir()}
	in.prefix, in.sysconf = filepath.Join(in.root, "usr"), filepath.Join(in.root, "etc")
	in.unit = filepath.Join(in.prefix, "lib/systemd/system/xdpvsd.service")
	cmd := exec.Command("make", "-C", "../..", "-o", "build", "install", "BIN="+filepath.Dir(b.xdpvsd),
		"PREFIX="+in.prefix, "SYSCONFDIR="+in.sysconf, "SYSTEMCTL=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	return in
}

// unitFile is the [Service] section of a unit file: each key's values in order.
type unitFile map[string][]string

func mustReadUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, section := unitFile{}, ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			u[k] = append(u[k], v)
		}
	}
	return u
}

// readEnvFile reads an EnvironmentFile of KEY="value" lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, `"`)
	}
	return env
}

// execWords expands an ExecStart line as systemd does for our unit: $VAR alone is split into
// words, ${VAR} is one word.
func execWords(line string, env map[string]string) []string {
	var out []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			out = append(out, env[w[2:len(w)-1]])
		case strings.HasPrefix(w, "$"):
			out = append(out, strings.Fields(env[w[1:]])...)
		default:
			out = append(out, w)
		}
	}
	return out
}

// TestInstall: `make install` puts the binaries, the unit, the environment file and an empty
// configuration file (0600) in place, keeps a configuration file that exists, and `make
// uninstall` removes what it put in place but the configuration; systemd-analyze verify passes
// on the unit.
func TestInstall(t *testing.T) {
	in := mustInstall(t)
	var files []string
	filepath.WalkDir(in.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, in.root))
		}
		return nil
	})
	t.Logf("installed:\n%s", strings.Join(files, "\n"))
	want := []string{"/etc/default/xdpvsd", "/etc/xdpvs/xdpvs.conf", "/usr/lib/systemd/system/xdpvsd.service",
		"/usr/sbin/xdpvs-rs", "/usr/sbin/xdpvsadm", "/usr/sbin/xdpvsd", "/usr/share/man/man8/xdpvsadm.8", "/usr/share/man/man8/xdpvsd.8",
		"/usr/share/bash-completion/completions/xdpvsadm"}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("%s not installed", w)
		}
	}
	conf := filepath.Join(in.sysconf, "xdpvs/xdpvs.conf")
	if fi, err := os.Stat(conf); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("configuration file: %v %v", fi, err)
	}
	unit, _ := os.ReadFile(in.unit)
	if !strings.Contains(string(unit), "ExecStart="+in.prefix+"/sbin/xdpvsd --config "+conf+" ") {
		t.Errorf("the unit's ExecStart does not run the installed xdpvsd on the installed file:\n%s", unit)
	}
	verifyUnit(t, in)

	// A second install keeps the operator's files; uninstall keeps the configuration.
	os.WriteFile(conf, []byte("-A -t 198.18.0.10:80 -s rr\n"), 0o600)
	mustInstall2 := exec.Command("make", "-C", "../..", "-o", "build", "install", "BIN="+filepath.Dir(binaries(t).xdpvsd),
		"PREFIX="+in.prefix, "SYSCONFDIR="+in.sysconf, "SYSTEMCTL=true")
	if out, err := mustInstall2.CombinedOutput(); err != nil {
		t.Fatalf("make install again: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(conf); string(got) != "-A -t 198.18.0.10:80 -s rr\n" {
		t.Errorf("make install overwrote the configuration: %q", got)
	}
	un := exec.Command("make", "-C", "../..", "uninstall", "PREFIX="+in.prefix, "SYSCONFDIR="+in.sysconf, "SYSTEMCTL=true")
	if out, err := un.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	for _, w := range want {
		_, err := os.Stat(filepath.Join(in.root, w))
		if kept := strings.HasPrefix(w, "/etc/"); kept != (err == nil) {
			t.Errorf("after uninstall %s: %v (want kept %v)", w, err, kept)
		}
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit, with the installed manual pages
// on MANPATH (Documentation= is checked with man). It skips if systemd-analyze cannot run here.
func verifyUnit(t *testing.T, in *installed) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze verify skipped: systemd-analyze is not installed")
		return
	}
	_, err := os.Stat(filepath.Join(in.prefix, "share/man/man8/xdpvsd.8"))
	manInstalled := err == nil
	cmd := exec.Command("systemd-analyze", "verify", in.unit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(in.prefix, "share/man")+":")
	out, err := cmd.CombinedOutput()
	// Messages about units of the host that are not ours (a container's missing sysinit.target,
	// say) are the machine's, not the unit's.
	var ours []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "xdpvsd.service:") && !strings.Contains(l, "sysinit.target") &&
			!(strings.Contains(l, "Command 'man ") && !manInstalled) {
			ours = append(ours, l)
		}
	}
	if len(ours) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", in.unit, err, strings.Join(ours, "\n"))
	}
	t.Logf("systemd-analyze verify: %v %s", err, out)
}

// notifyListener is a fake systemd: the datagrams sent to its NOTIFY_SOCKET.
type notifyListener struct {
	path string
	msgs chan string
}

func newNotifyListener(t *testing.T) *notifyListener {
	t.Helper()
	n := &notifyListener{path: filepath.Join(t.TempDir(), "notify.sock"), msgs: make(chan string, 64)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// expect waits for a message holding every line of want, and returns it; it fails on one that
// holds another state (READY, RELOADING, STOPPING) first.
func (n *notifyListener) expect(t *testing.T, want ...string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			t.Logf("sd_notify: %q", m)
			lines := strings.Split(m, "\n")
			if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(lines, w) }) {
				return m
			}
			t.Fatalf("sd_notify %q, want %q", m, want)
		case <-timeout:
			t.Fatalf("no sd_notify %q within 20 s", want)
		}
	}
}

// pinnedThread tells whether a thread of process pid may run on one CPU only.
func pinnedThread(t *testing.T, pid int) bool {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	for _, st := range tasks {
		data, _ := os.ReadFile(st)
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok && !strings.ContainsAny(strings.TrimSpace(v), ",-") {
				t.Logf("%s: Cpus_allowed_list %s", st, strings.TrimSpace(v))
				return true
			}
		}
	}
	return false
}

// heldConn is one TCP connection through the VIP that asks for data again and again.
type heldConn struct {
	c net.Conn
	r *bufio.Reader
}

// get fetches n bytes of seed's data on the connection (HTTP/1.1 keep-alive) and checks them.
func (h *heldConn) get(t *testing.T, seed uint64, n int64) {
	t.Helper()
	h.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(h.c, "GET /data?n=%d&seed=%d HTTP/1.1\r\nHost: vip\r\n\r\n", n, seed)
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		t.Fatalf("on the held connection: %v", err)
	}
	defer resp.Body.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, resp.Body); err != nil {
		t.Fatalf("on the held connection: %v", err)
	}
	if got, want := hex.EncodeToString(sum.Sum(nil)), topo.DataSHA256(seed, n); got != want {
		t.Fatalf("held connection: data SHA-256 %s, want %s", got, want)
	}
}

// TestServiceUnit: xdpvsd started as the installed unit starts it (its ExecStart and environment
// file, its capabilities alone, no_new_privs) says READY=1 on NOTIFY_SOCKET once the configuration
// file's service answers; after the file is changed, SIGHUP gives RELOADING=1 then READY=1 and the
// new configuration, while a connection established before keeps transferring (SHA-256 checked);
// a bad file is refused with the running configuration kept; SIGTERM gives STOPPING=1 and exit 0.
func TestServiceUnit(t *testing.T) {
	t.Parallel()
	testutil.RequireRoot(t)
	in := mustInstall(t)
	u := mustReadUnit(t, in.unit)
	if got := u["Type"]; !slices.Equal(got, []string{"notify"}) {
		t.Fatalf("Type=%v", got)
	}
	if got := u["ExecReload"]; len(got) != 1 || !strings.Contains(got[0], "-HUP $MAINPID") {
		t.Fatalf("ExecReload=%v", got)
	}
	for k, want := range map[string]string{"Restart": "on-failure", "LimitMEMLOCK": "infinity", "StandardOutput": "journal",
		"StandardError": "journal", "NoNewPrivileges": "yes"} {
		if got := u[k]; !slices.Equal(got, []string{want}) {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}
	b := binaries(t)
	nat, err := topo.NewNAT(topo.Prefix("unit"), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nat.Close(); err != nil {
			t.Error(err)
		}
	})
	for i := range 2 {
		s, err := topo.ServeHTTP(nat.RS[i], netip.MustParseAddrPort(topo.RS4(i)+":8080"), fmt.Sprintf("rs%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}

	// The operator's files: the interfaces in the environment file, one service in the
	// configuration.
	sock := filepath.Join(t.TempDir(), "xdpvs.sock")
	envFile := filepath.Join(in.sysconf, "default/xdpvsd")
	ifaces := ""
	for _, i := range nat.Ifaces() {
		ifaces += " --iface " + i
	}
	os.WriteFile(envFile, []byte(fmt.Sprintf("XDPVSD_IFACES=%q\nXDPVSD_OPTS=\"--socket %s\"\n", ifaces, sock)), 0o644)
	conf := filepath.Join(in.sysconf, "xdpvs/xdpvs.conf")
	svc := "-t " + topo.VIP4 + ":80"
	rules1 := fmt.Sprintf("-A %s -s rr\n-a %s -r %s:8080 -m -w 1\n", svc, svc, topo.RS4(0))
	os.WriteFile(conf, []byte(rules1), 0o600)

	if !slices.Equal(u["EnvironmentFile"], []string{"-" + envFile}) {
		t.Fatalf("EnvironmentFile=%v, want -%s", u["EnvironmentFile"], envFile)
	}
	argv := execWords(u["ExecStart"][0], readEnvFile(t, envFile))
	caps := strings.Fields(u["CapabilityBoundingSet"][0])
	bounding := "-all"
	for _, c := range caps {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	wrapper := []string{"setpriv", "--bounding-set", bounding, "--inh-caps", bounding, "--no-new-privs"}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Log("setpriv not installed: xdpvsd runs with all of root's capabilities")
		wrapper = nil
	}
	n := newNotifyListener(t)
	t.Logf("started as the unit: %s", strings.Join(append(wrapper, argv...), " "))
	d, err := topo.StartCommand(nat.Director, sock, []string{"NOTIFY_SOCKET=" + n.path}, append(wrapper, argv...)...)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d.Stop()
		}
		if t.Failed() {
			t.Logf("xdpvsd log:\n%s", d.Log)
		}
	})
	n.expect(t, "READY=1")
	adm := func(args ...string) string {
		t.Helper()
		out, err := d.Adm(b.adm, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := adm("-S"); got != rules1 {
		t.Fatalf("at READY=1 -S:\n%s\nwant the file's:\n%s", got, rules1)
	}
	// The worker is pinned with the unit's capabilities alone (no CAP_SYS_NICE): one of the
	// daemon's threads may run on the worker's CPU only.
	if runtime.NumCPU() > 1 {
		if !pinnedThread(t, d.PID()) {
			t.Errorf("no thread of xdpvsd is pinned to one CPU:\n%s", d.Log)
		}
	}
	// --workers auto, the unit's default: the choice is in the start-up line and in show workers.
	if w := adm("show", "workers"); !strings.HasPrefix(w, "Workers: 1 (auto: receive queues of the interfaces, at most ") {
		t.Errorf("show workers does not say how the workers were chosen:\n%s", w)
	}
	if !strings.Contains(d.Log.String(), `"workers_by": "auto: `) {
		t.Errorf("the start-up line does not say how the workers were chosen:\n%s", d.Log)
	}

	// A connection established before the reload, used before and after it.
	dial := topo.DialContext(nat.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", topo.VIP4+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := &heldConn{c: c, r: bufio.NewReader(c)}
	held.get(t, 1, 1<<20)

	rules2 := fmt.Sprintf("-A %s -s wrr\n-a %s -r %s:8080 -m -w 1\n-a %s -r %s:8080 -m -w 3\n",
		svc, svc, topo.RS4(0), svc, topo.RS4(1))
	os.WriteFile(conf, []byte("# changed by hand\n"+rules2), 0o600)
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "RELOADING=1")
	n.expect(t, "READY=1")
	if got := adm("-S"); got != rules2 {
		t.Fatalf("after SIGHUP -S:\n%s\nwant:\n%s", got, rules2)
	}
	held.get(t, 2, 4<<20) // the connection of before, to rs0, goes on
	servers := map[string]int{}
	client := topo.HTTPClient(nat.Client, false)
	client.Timeout = 5 * time.Second
	for range 40 {
		_, s, err := topo.Get(client, topo.URL(topo.VIP4, 80, "/"))
		if err != nil {
			t.Fatal(err)
		}
		servers[s]++
	}
	if servers["rs0"] != 10 || servers["rs1"] != 30 {
		t.Errorf("40 new connections after the reload went %v, want wrr 1:3 (rs0 10, rs1 30)", servers)
	}

	// A file with a bad line: refused, logged, nothing changed.
	os.WriteFile(conf, []byte(rules2+"-a "+svc+" -r 198.18.9.9:8080 -m -w 99999\n"), 0o600)
	d.Signal(syscall.SIGHUP)
	n.expect(t, "RELOADING=1")
	if m := n.expect(t, "READY=1"); !strings.Contains(m, "STATUS=reload refused: "+conf+":4: illegal weight specified") {
		t.Errorf("a refused reload's status: %q", m)
	}
	if got := adm("-S"); got != rules2 {
		t.Errorf("a refused reload changed the configuration:\n%s", got)
	}
	if !regexp.MustCompile(`reload refused.*` + regexp.QuoteMeta(conf) + `:4: illegal weight`).MatchString(d.Log.String()) {
		t.Errorf("the refused reload is not logged:\n%s", d.Log)
	}
	held.get(t, 3, 1<<20)

	c.Close()
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "STOPPING=1")
	stopped = true
	if err := d.Wait(20 * time.Second); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("xdpvsd exited %v on SIGTERM", ee)
		} else {
			t.Error(err)
		}
	}
}
