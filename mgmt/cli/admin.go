package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Env is what the admin tool needs from the outside world, injected so that tests can run it.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Dial connects to the daemon's socket (default: net.DialTimeout("unix", path, 5s)).
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
	socket, args, err := socketArg(args)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	if socket == "" {
		socket = env.Getenv("XDPVS_SOCKET")
	}
	if socket == "" {
		socket = api.DefaultSocketPath
	}
	cl := &client{env: env, api: api.Client{Socket: socket, Dial: env.Dial}}
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

// client is the admin tool talking to one daemon.
type client struct {
	env Env
	api api.Client
}

func (cl *client) call(req *api.Request) (*api.Response, error) { return cl.api.Call(req) }

// run executes one command line. stdin is only read by -R.
func (cl *client) run(args []string, stdin io.Reader, out, errw io.Writer, inShell bool) int {
	if len(args) > 0 && args[0] == completeVerb && !inShell {
		return cl.completeWords(args[1:], out)
	}
	if len(args) > 0 && args[0] == importVerb {
		return cl.importKeepalived(args[1:], out, errw)
	}
	c, err := ParseArgs(args)
	if err != nil {
		fmt.Fprintln(errw, err)
		if c == nil && strings.HasPrefix(err.Error(), "no command") {
			fmt.Fprintln(errw, "Try `xdpvsadm -h' or 'xdpvsadm --help' for more information.")
		}
		return ExitUsage
	}
	switch c.Op {
	case model.OpHelp:
		WriteUsage(out)
		return ExitOK
	case model.OpVersion:
		fmt.Fprintln(out, Version)
		return ExitOK
	case model.OpRestore:
		if inShell {
			fmt.Fprintln(errw, "-R reads rules from standard input: use `xdpvsadm -R < FILE' outside the shell")
			return ExitUsage
		}
		cmds, lines, err := ParseNumberedRules(stdin, "stdin")
		if err != nil {
			fmt.Fprintln(errw, err)
			return ExitUsage
		}
		return cl.applyBatch(cmds, errw, "nothing restored", func(i int) string { return fmt.Sprintf("stdin:%d", lines[i]) })
	}
	resp, err := cl.call(&api.Request{Parts: true, Commands: []model.Command{*c}})
	if err != nil {
		fmt.Fprintln(errw, err)
		return ExitError
	}
	if resp.Error != "" {
		fmt.Fprintln(errw, resp.Error)
		return ExitError
	}
	writeWarnings(errw, resp.Warnings)
	if resp.State == nil {
		if c.Op == model.OpList || c.Op == model.OpSave || c.Op == model.OpGetLaddr || c.Op == model.OpShow {
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

// writeWarnings writes the warnings of a change that succeeded, one a line, on the error output:
// the exit status stays 0 and standard output stays what ipvsadm prints, for scripts.
func writeWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
}

// printState writes the answer to a listing in ipvsadm's format or, with -o json, as JSON.
func printState(out io.Writer, c *model.Command, st *api.State) error {
	switch {
	case c.List.NoSort:
	case c.Op == model.OpSave:
		api.SortServices(st) // real servers in configuration order, as the file keeps them
	default:
		api.SortState(st)
	}
	if c.List.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonOf(c, st))
	}
	switch c.Op {
	case model.OpShow:
		if w := showWriters[c.Show]; w != nil {
			w(out, st)
		}
	case model.OpSave:
		WriteRules(out, st)
	case model.OpGetLaddr:
		WriteLaddrs(out, st)
	case model.OpList:
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

// jsonOf is what -o json prints of a listing: the part of the state the command lists.
func jsonOf(c *model.Command, st *api.State) any {
	switch {
	case c.Op == model.OpShow && c.Show == model.ShowConnections,
		c.Op == model.OpList && c.List.Connections:
		return struct {
			Connections []api.Conn `json:"connections"`
		}{append([]api.Conn{}, st.Connections...)}
	case c.Op == model.OpShow && c.Show.Workers():
		return struct {
			Workers []api.WorkerStats `json:"workers"`
		}{st.Workers}
	case c.Op == model.OpShow && c.Show == model.ShowConfig:
		return struct {
			Config *api.ConfigStatus `json:"config"`
		}{st.Config}
	case c.Op == model.OpShow && c.Show == model.ShowBGP:
		return struct {
			BGP *api.BGPState `json:"bgp"`
		}{st.BGP}
	case c.Op == model.OpShow && c.Show == model.ShowPick:
		return struct {
			Picks []api.Pick `json:"picks"`
		}{append([]api.Pick{}, st.Picks...)}
	case c.Op == model.OpShow && c.Show == model.ShowSync:
		return struct {
			Sync *api.SyncState `json:"sync"`
		}{st.Sync}
	case c.Op == model.OpShow && c.Show == model.ShowHA:
		return struct {
			HA *api.HAState `json:"ha"`
		}{st.HA}
	case c.Op == model.OpList && c.List.Timeout:
		return struct {
			Timeouts model.Timeouts `json:"timeouts"`
		}{st.Timeouts}
	case c.Op == model.OpShow, c.Op == model.OpList:
		return struct {
			Services []api.ServiceState `json:"services"`
		}{append([]api.ServiceState{}, st.Services...)}
	}
	return configOf(st) // -S, --get-laddr
}

// configOf is the configuration of a listing, without counters: -S -o json.
func configOf(st *api.State) any {
	type svc struct {
		model.ServiceSpec
		RealServers []model.RealServerSpec `json:"real_servers"`
		Health      *model.HealthSpec      `json:"health,omitempty"`
	}
	var cfg struct {
		Services []svc          `json:"services"`
		Timeouts model.Timeouts `json:"timeouts"`
	}
	cfg.Timeouts, cfg.Services = st.Timeouts, []svc{}
	for _, s := range st.Services {
		x := svc{ServiceSpec: s.ServiceSpec, RealServers: []model.RealServerSpec{}, Health: s.Health}
		for _, d := range s.RealServers {
			x.RealServers = append(x.RealServers, d.RealServerSpec)
		}
		cfg.Services = append(cfg.Services, x)
	}
	return cfg
}

// applyBatch sends cmds as one change (-R, import-keepalived --apply): all of them or none. A
// refused command is named by where(i), i its index in cmds, and followed by the line nothing,
// which says that no part was applied.
func (cl *client) applyBatch(cmds []model.Command, errw io.Writer, nothing string, where func(i int) string) int {
	if len(cmds) == 0 {
		return ExitOK
	}
	resp, err := cl.api.Batch(cmds)
	if err != nil {
		fmt.Fprintln(errw, err)
		return ExitError
	}
	if resp.Error != "" {
		if resp.Index > 0 && resp.Index <= len(cmds) {
			fmt.Fprintf(errw, "%s: %s\n", where(resp.Index-1), resp.Error)
		} else {
			fmt.Fprintln(errw, resp.Error)
		}
		fmt.Fprintln(errw, nothing)
		return ExitError
	}
	writeWarnings(errw, resp.Warnings)
	return ExitOK
}
