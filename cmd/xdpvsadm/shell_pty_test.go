//go:build linux

package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/zap/zaptest"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/cli"
	"github.com/xdpvs/xdpvs/mgmt/server"
)

// The shell is driven through a pseudo-terminal: this test binary runs itself as xdpvsadm
// (XDPVSADM_RUN_MAIN) on the slave side, the test types on the master side and reads the screen
// through a small VT100 emulator.

func TestMain(m *testing.M) {
	if os.Getenv("XDPVSADM_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// nullControl is a dataplane that accepts everything.
type nullControl struct{}

func (nullControl) Apply(*control.Snapshot) error                   { return nil }
func (nullControl) Stats() *control.Stats                           { return &control.Stats{} }
func (nullControl) Connections(func([]control.ConnInfo) bool) error { return nil }
func (nullControl) AddAddress(string, netip.Addr) (bool, error) {
	return false, errors.New("no interface")
}
func (nullControl) RemoveAddress(string, netip.Addr) error { return nil }

// screen is a VT100 emulator for what golang.org/x/term writes: text, CR, LF, backspace, cursor
// moves (ESC [ n A/B/C/D), erase to end of line (ESC [ K), clear (ESC [ 2J, ESC [ H); other
// sequences are ignored.
type screen struct {
	mu         sync.Mutex
	rows, cols int
	cells      [][]rune
	x, y       int
	esc        []byte
}

func newScreen(rows, cols int) *screen {
	s := &screen{rows: rows, cols: cols}
	s.clear()
	return s
}

func (s *screen) clear() {
	s.cells = make([][]rune, s.rows)
	for i := range s.cells {
		s.cells[i] = []rune(strings.Repeat(" ", s.cols))
	}
	s.x, s.y = 0, 0
}

func (s *screen) lineFeed() {
	if s.y == s.rows-1 {
		s.cells = append(s.cells[1:], []rune(strings.Repeat(" ", s.cols)))
		return
	}
	s.y++
}

func (s *screen) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range string(b) {
		if s.esc != nil {
			s.esc = append(s.esc, string(r)...)
			if len(s.esc) == 1 && r != '[' {
				s.esc = nil // ESC x: ignored
				continue
			}
			if len(s.esc) > 1 && r >= 0x40 && r <= 0x7e {
				s.csi(string(s.esc[1:len(s.esc)-1]), r)
				s.esc = nil
			}
			continue
		}
		switch r {
		case 0x1b:
			s.esc = []byte{}
		case '\r':
			s.x = 0
		case '\n':
			s.lineFeed()
		case '\b':
			s.x = max(s.x-1, 0)
		case 0x07:
		default:
			if s.x >= s.cols {
				s.x = 0
				s.lineFeed()
			}
			s.cells[s.y][s.x] = r
			s.x++
		}
	}
	return len(b), nil
}

func (s *screen) csi(param string, final rune) {
	n, err := strconv.Atoi(param)
	if err != nil || n == 0 {
		n = 1
	}
	switch final {
	case 'A':
		s.y = max(s.y-n, 0)
	case 'B':
		s.y = min(s.y+n, s.rows-1)
	case 'C':
		s.x = min(s.x+n, s.cols-1)
	case 'D':
		s.x = max(s.x-n, 0)
	case 'K':
		for i := s.x; i < s.cols; i++ {
			s.cells[s.y][i] = ' '
		}
	case 'J':
		if param == "2" {
			for i := range s.cells {
				s.cells[i] = []rune(strings.Repeat(" ", s.cols))
			}
		}
	case 'H':
		s.x, s.y = 0, 0
	}
}

// lines is the screen's text, trailing spaces and empty lines at the end removed.
func (s *screen) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, s.rows)
	for i, l := range s.cells {
		out[i] = strings.TrimRight(string(l), " ")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// cursorLine is the text of the cursor's line, up to its end or to the cursor if that is further
// (so that a completed word's trailing space shows).
func (s *screen) cursorLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := strings.TrimRight(string(s.cells[s.y]), " ")
	if n := len([]rune(l)); s.x > n {
		l += strings.Repeat(" ", s.x-n)
	}
	return l
}

func (s *screen) String() string { return strings.Join(s.lines(), "\n") }

type shellSession struct {
	t   *testing.T
	pty *os.File
	scr *screen
}

func (ss *shellSession) typeKeys(keys string) {
	ss.t.Helper()
	if _, err := ss.pty.Write([]byte(keys)); err != nil {
		ss.t.Fatal(err)
	}
}

// waitLine waits until the cursor's line reads want.
func (ss *shellSession) waitLine(want string) {
	ss.t.Helper()
	ss.wait("the input line "+strconv.Quote(want), func() bool { return ss.scr.cursorLine() == want })
}

// waitScreen waits until some line of the screen contains want.
func (ss *shellSession) waitScreen(want string) {
	ss.t.Helper()
	ss.wait(strconv.Quote(want)+" on the screen", func() bool { return strings.Contains(ss.scr.String(), want) })
}

func (ss *shellSession) wait(what string, cond func() bool) {
	ss.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			ss.t.Fatalf("waiting for %s; the screen:\n%s", what, ss.scr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShellPTY: the shell on a terminal: prompt, completion of verbs, show verbs, VIPs and real
// servers from the daemon, history, and the commands' output on the screen.
func TestShellPTY(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "x.sock")
	srv, err := server.New(server.Config{Control: nullControl{}, Logger: zaptest.NewLogger(t), SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	for _, l := range []string{
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.18.1.2:8080 -m",
		"-A -u 198.18.0.10:53 -s rr",
		"-a -u 198.18.0.10:53 -r 198.18.2.2:5353 -m",
	} {
		if rc := cli.Admin(cli.Env{}, append([]string{"--socket", sock}, strings.Fields(l)...)); rc != 0 {
			t.Fatalf("%s: rc %d", l, rc)
		}
	}

	cmd := exec.Command(os.Args[0], "--socket", sock)
	cmd.Env = append(os.Environ(), "XDPVSADM_RUN_MAIN=1", "TERM=vt100")
	p, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		p.Close()
	}()
	ss := newShellSession(t, p)

	const prompt = "xdpvsadm> "
	ss.waitScreen("shell on " + sock)
	ss.waitLine(prompt)

	// A verb, then what it shows: "se" is servers or services, "serve" only servers.
	ss.typeKeys("sh\t")
	ss.waitLine(prompt + "show ")
	ss.typeKeys("se\t")
	ss.waitLine(prompt + "show serv")
	ss.typeKeys("e\t")
	ss.waitLine(prompt + "show servers ")
	ss.typeKeys("\r")
	ss.waitScreen("TCP  198.18.0.10:80           198.18.1.2:8080              Masq         1      1 -                0          0")
	ss.waitLine(prompt)

	// A VIP after -t: only the TCP one.
	ss.typeKeys("-L -n -t 198\t")
	ss.waitLine(prompt + "-L -n -t 198.18.0.10:80 ")
	ss.typeKeys("\r")
	ss.waitScreen("TCP  198.18.0.10:80 rr")
	ss.waitLine(prompt)

	// A real server after -r, of the service on the line; an option by its prefix.
	ss.typeKeys("-e -u 198.18.0.10:53 -r \t")
	ss.waitLine(prompt + "-e -u 198.18.0.10:53 -r 198.18.2.2:5353 ")
	ss.typeKeys("-m --wei\t")
	ss.waitLine(prompt + "-e -u 198.18.0.10:53 -r 198.18.2.2:5353 -m --weight ")
	ss.typeKeys("7\r")
	ss.waitLine(prompt)

	// History: the listing again with the up arrow, edited to UDP.
	ss.typeKeys("-Ln\r")
	ss.waitScreen("  -> 198.18.2.2:5353              Masq    7      0          0")
	ss.waitLine(prompt)
	ss.typeKeys("\x1b[A")
	ss.waitLine(prompt + "-Ln")

	// An error is shown and the shell goes on; quit gives status 1 (a command failed).
	ss.typeKeys("\x15-D -t 198.18.0.99:80\r")
	ss.waitScreen("No such service")
	ss.waitLine(prompt)
	ss.typeKeys("quit\r")
	select {
	case <-exited:
		if ee, ok := waitErr.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", waitErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the shell did not quit; the screen:\n%s", ss.scr)
	}
	t.Logf("the screen at the end:\n%s", ss.scr)
}

// newShellSession is a session on the terminal p (40 rows of 160 columns): what the program
// writes there is read into the session's screen until p closes.
func newShellSession(t *testing.T, p *os.File) *shellSession {
	ss := &shellSession{t: t, pty: p, scr: newScreen(40, 160)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.Read(buf)
			if n > 0 {
				ss.scr.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return ss
}
