package mgmt

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// Env is what the admin tool needs from the outside world, injected so that tests can run it.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Dial connects to the daemon's socket (default: net.Dial("unix", path)).
	Dial func(path string) (net.Conn, error)
	// Terminal, if set, opens a line editor for the shell when stdin is a terminal, with complete
	// as its tab-completion callback (golang.org/x/term's AutoCompleteCallback). It returns an
	// error when stdin is not one; the shell then reads plain lines from Stdin.
	Terminal func(prompt string, complete CompleteFunc) (Terminal, error)
}

// CompleteFunc completes the line at pos when key is pressed: it returns the new line and cursor
// position, and whether it changed anything.
type CompleteFunc func(line string, pos int, key rune) (newLine string, newPos int, ok bool)

// Terminal is an interactive line editor; the shell writes its output through it.
type Terminal interface {
	ReadLine() (string, error) // io.EOF at the end of input
	io.Writer
	Close() error
}

// Exit statuses of Admin, as ipvsadm's: 2 for a command-line error, 1 for a failed operation.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

const shellPrompt = "xdpvsadm> "

// Admin runs xdpvsadm with args (without the program name) and returns the exit status. With no
// command it runs the interactive shell.
func Admin(env Env, args []string) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Dial == nil {
		env.Dial = func(path string) (net.Conn, error) { return net.DialTimeout("unix", path, 5*time.Second) }
	}
	socket, args, err := socketArg(args)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	if socket == "" {
		socket = env.Getenv("XDPVS_SOCKET")
	}
	if socket == "" {
		socket = DefaultSocketPath
	}
	cl := &client{env: env, socket: socket}
	if len(args) == 0 {
		return cl.shell()
	}
	return cl.run(args, env.Stdin, env.Stdout, env.Stderr, false)
}

// socketArg takes --socket PATH (or --socket=PATH) out of args.
func socketArg(args []string) (string, []string, error) {
	var rest []string
	socket := ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--socket":
			if i+1 >= len(args) {
				return "", nil, errors.New("--socket: missing argument")
			}
			socket = args[i+1]
			i++
		case strings.HasPrefix(a, "--socket="):
			socket = strings.TrimPrefix(a, "--socket=")
		default:
			rest = append(rest, a)
		}
	}
	return socket, rest, nil
}

type client struct {
	env    Env
	socket string
}

// call sends one request and reads the response.
func (cl *client) call(req *Request) (*Response, error) {
	c, err := cl.env.Dial(cl.socket)
	if err != nil {
		return nil, fmt.Errorf("Can't connect to xdpvsd at %s: %v\nIs xdpvsd running, and may you use its socket?", cl.socket, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	req.V = ProtocolVersion
	if err := writeFrame(c, req); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: send: %v", cl.socket, err)
	}
	var resp Response
	if err := readFrame(c, &resp, MaxResponseSize); err != nil {
		return nil, fmt.Errorf("xdpvsd at %s: receive: %v", cl.socket, err)
	}
	return &resp, nil
}

// run executes one command line. stdin is only read by -R.
func (cl *client) run(args []string, stdin io.Reader, out, errw io.Writer, inShell bool) int {
	c, err := ParseArgs(args)
	if err != nil {
		fmt.Fprintln(errw, err)
		if c == nil && strings.HasPrefix(err.Error(), "no command") {
			fmt.Fprintln(errw, "Try `xdpvsadm -h' or 'xdpvsadm --help' for more information.")
		}
		return ExitUsage
	}
	switch c.Op {
	case OpHelp:
		WriteUsage(out)
		return ExitOK
	case OpVersion:
		fmt.Fprintln(out, Version)
		return ExitOK
	case OpRestore:
		if inShell {
			fmt.Fprintln(errw, "-R reads rules from standard input: use `xdpvsadm -R < FILE' outside the shell")
			return ExitUsage
		}
		cmds, lines, err := parseRules(stdin, "stdin")
		if err != nil {
			fmt.Fprintln(errw, err)
			return ExitUsage
		}
		if len(cmds) == 0 {
			return ExitOK
		}
		resp, err := cl.call(&Request{Commands: cmds})
		if err != nil {
			fmt.Fprintln(errw, err)
			return ExitError
		}
		if resp.Error != "" {
			if resp.Index > 0 && resp.Index <= len(lines) {
				fmt.Fprintf(errw, "stdin:%d: %s\n", lines[resp.Index-1], resp.Error)
			} else {
				fmt.Fprintln(errw, resp.Error)
			}
			fmt.Fprintln(errw, "nothing restored")
			return ExitError
		}
		return ExitOK
	}
	resp, err := cl.call(&Request{Commands: []Command{*c}})
	if err != nil {
		fmt.Fprintln(errw, err)
		return ExitError
	}
	if resp.Error != "" {
		fmt.Fprintln(errw, resp.Error)
		return ExitError
	}
	if resp.State == nil {
		if c.Op == OpList || c.Op == OpSave || c.Op == OpGetLaddr || c.Op == OpShow {
			fmt.Fprintln(errw, "xdpvsd sent no data")
			return ExitError
		}
		return ExitOK
	}
	if err := printState(out, c, resp.State); err != nil {
		fmt.Fprintln(errw, err)
		return ExitError
	}
	return ExitOK
}

// printState writes the answer to a listing in ipvsadm's format or, with -o json, as JSON.
func printState(out io.Writer, c *Command, st *State) error {
	if !c.List.NoSort {
		sortState(st)
	}
	if c.List.JSON {
		var v any
		switch {
		case c.Op == OpShow && c.Show == "connections":
			v = struct {
				Connections []Conn `json:"connections"`
			}{append([]Conn{}, st.Connections...)}
		case c.Op == OpShow && (c.Show == "workers" || c.Show == "queues" || c.Show == "drops" || c.Show == "events" || c.Show == "synproxy"):
			v = struct {
				Workers []control.WorkerStats `json:"workers"`
			}{st.Workers}
		case c.Op == OpShow:
			v = struct {
				Services []ServiceState `json:"services"`
			}{append([]ServiceState{}, st.Services...)}
		case c.Op == OpList && c.List.Connections:
			v = struct {
				Connections []Conn `json:"connections"`
			}{append([]Conn{}, st.Connections...)}
		case c.Op == OpList && c.List.Timeout:
			v = struct {
				Timeouts Timeouts `json:"timeouts"`
			}{st.Timeouts}
		case c.Op == OpList:
			v = struct {
				Services []ServiceState `json:"services"`
			}{append([]ServiceState{}, st.Services...)}
		default: // -S, --get-laddr: the configuration without counters
			type svc struct {
				ServiceSpec
				RealServers []RealServerSpec `json:"real_servers"`
				Health      *HealthSpec      `json:"health,omitempty"`
			}
			var cfg struct {
				Services []svc    `json:"services"`
				Timeouts Timeouts `json:"timeouts"`
			}
			cfg.Timeouts, cfg.Services = st.Timeouts, []svc{}
			for _, s := range st.Services {
				x := svc{ServiceSpec: s.ServiceSpec, RealServers: []RealServerSpec{}, Health: s.Health}
				for _, d := range s.RealServers {
					x.RealServers = append(x.RealServers, d.RealServerSpec)
				}
				cfg.Services = append(cfg.Services, x)
			}
			v = cfg
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	switch c.Op {
	case OpShow:
		switch c.Show {
		case "workers", "drops":
			WriteWorkers(out, st.Workers, c.Show == "drops")
		case "queues":
			WriteQueues(out, st.Workers)
		case "events":
			WriteEvents(out, st.Workers)
		case "synproxy":
			WriteSynProxy(out, st.Workers)
		case "services":
			WriteList(out, st, ListOptions{}, false)
		case "servers":
			WriteServers(out, st)
		case "connections":
			WriteConns(out, st.Connections)
		case "health":
			WriteHealth(out, st, time.Now())
		}
	case OpSave:
		WriteRules(out, st)
	case OpGetLaddr:
		WriteLaddrs(out, st)
	case OpList:
		switch {
		case c.List.Connections:
			WriteConns(out, st.Connections)
		case c.List.Timeout:
			WriteTimeout(out, st.Timeouts)
		default:
			WriteList(out, st, c.List, c.HasService)
		}
	}
	return nil
}

// shell reads command lines until "quit" or the end of input. It returns 1 if any command failed.
func (cl *client) shell() int {
	var (
		readLine func() (string, error)
		out      = cl.env.Stdout
		errw     = cl.env.Stderr
	)
	if cl.env.Terminal != nil {
		if t, err := cl.env.Terminal(shellPrompt, cl.complete); err == nil {
			defer t.Close()
			readLine, out, errw = t.ReadLine, t, t
			fmt.Fprintf(t, "%s shell on %s: ipvsadm commands, 'help', 'quit'.\n", Version, cl.socket)
		}
	}
	if readLine == nil {
		sc := bufio.NewScanner(cl.env.Stdin)
		sc.Buffer(make([]byte, 4096), maxConfigLine)
		readLine = func() (string, error) {
			if sc.Scan() {
				return sc.Text(), nil
			}
			if err := sc.Err(); err != nil {
				return "", err
			}
			return "", io.EOF
		}
	}
	status := ExitOK
	for {
		line, err := readLine()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Fprintln(errw, err)
				return ExitError
			}
			return status
		}
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "xdpvsadm" || f[0] == "ipvsadm") {
			f = f[1:]
		}
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "quit", "exit":
			return status
		case "help", "?":
			WriteUsage(out)
			continue
		}
		if rc := cl.run(f, nil, out, errw, true); rc != ExitOK {
			status = ExitError
		}
	}
}

// shellWords are completed at the start of a shell line besides the long options.
var shellWords = []string{"help", "quit", "show"}

// healthOptions are the options of --health, completed besides ipvsadm's.
var healthOptions = []string{"--health", "--check", "--check-port", "--path", "--host", "--expect", "--send",
	"--receive", "--script", "--interval", "--rise", "--fall", "--on-fail", "--sorry"}

// Complete is a tab-completion callback for a line editor (golang.org/x/term's
// AutoCompleteCallback) without a daemon to ask: it completes the word before the cursor to a long
// option, first on the line to help/quit/show, and after show to what it shows.
func Complete(line string, pos int, key rune) (string, int, bool) {
	return completeLine(line, pos, key, nil)
}

// complete is Complete that also completes, from the daemon, the VIP:PORT after -t/-u and the
// real server after -r (of the service on the line, if any) or --sorry.
func (cl *client) complete(line string, pos int, key rune) (string, int, bool) {
	return completeLine(line, pos, key, cl.addresses)
}

// addresses lists the services of one protocol (proto non-zero) as VIP:PORT, or the real servers
// (of svc, if valid) as RIP:PORT.
func (cl *client) addresses(proto Protocol, servers bool, svc ServiceKey) []string {
	resp, err := cl.call(&Request{Commands: []Command{{Op: OpSave}}})
	if err != nil || resp.Error != "" || resp.State == nil {
		return nil
	}
	var out []string
	for _, s := range resp.State.Services {
		if !servers {
			if s.Protocol == proto {
				out = append(out, addrPort(s.Address, s.Port))
			}
			continue
		}
		if svc.Address.IsValid() && s.ServiceKey != svc {
			continue
		}
		for _, d := range s.RealServers {
			if a := addrPort(d.Address, d.Port); !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func completeLine(line string, pos int, key rune, addrs func(Protocol, bool, ServiceKey) []string) (string, int, bool) {
	if key != '\t' || pos > len(line) {
		return "", 0, false
	}
	start := strings.LastIndexByte(line[:pos], ' ') + 1
	word := line[start:pos]
	before := strings.Fields(line[:start])
	if len(before) > 0 && (before[0] == "xdpvsadm" || before[0] == "ipvsadm") {
		before = before[1:]
	}
	prev := ""
	if len(before) > 0 {
		prev = before[len(before)-1]
	}
	var cands []string
	anyWord := false // an empty word completes too: to the only address, or their common prefix
	switch {
	case len(before) == 0:
		cands = append(append(LongOptions(), healthOptions...), shellWords...)
	case before[0] == "show":
		if len(before) == 1 {
			cands = ShowVerbs
		}
	case addrs != nil && (prev == "-t" || prev == "--tcp-service"):
		cands, anyWord = addrs(TCP, false, ServiceKey{}), true
	case addrs != nil && (prev == "-u" || prev == "--udp-service"):
		cands, anyWord = addrs(UDP, false, ServiceKey{}), true
	case addrs != nil && (prev == "-r" || prev == "--real-server" || prev == "--sorry"):
		var svc ServiceKey
		for i, w := range before[:len(before)-1] {
			p := map[string]Protocol{"-t": TCP, "--tcp-service": TCP, "-u": UDP, "--udp-service": UDP}[w]
			if a, port, _, ok := parseAddrPort(before[i+1]); p != 0 && ok {
				svc = ServiceKey{Protocol: p, Address: a, Port: port}
			}
		}
		cands, anyWord = addrs(0, true, svc), true
	default:
		cands = append(LongOptions(), healthOptions...)
	}
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) && (word != "" || anyWord) && !slices.Contains(match, c) {
			match = append(match, c)
		}
	}
	if len(match) == 0 {
		return "", 0, false
	}
	slices.Sort(match)
	common := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(m, common) {
			common = common[:len(common)-1]
		}
	}
	if len(match) == 1 {
		common += " "
	}
	if common == word {
		return "", 0, false
	}
	nl := line[:start] + common + line[pos:]
	return nl, start + len(common), true
}
