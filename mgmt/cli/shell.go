package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

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
			fmt.Fprintf(t, "%s shell on %s: ipvsadm commands, 'help', 'quit'.\n", Version, cl.api.Socket)
		}
	}
	if readLine == nil {
		sc := bufio.NewScanner(cl.env.Stdin)
		sc.Buffer(make([]byte, 4096), MaxRuleLine)
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
var shellWords = []string{"help", "quit", "show", "drain", "undrain", importVerb, "ha"}

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
func (cl *client) addresses(proto model.Protocol, servers bool, svc model.ServiceKey) []string {
	resp, err := cl.call(&api.Request{Commands: []model.Command{{Op: model.OpSave}}})
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

func completeLine(line string, pos int, key rune, addrs func(model.Protocol, bool, model.ServiceKey) []string) (string, int, bool) {
	if key != '\t' || pos > len(line) {
		return "", 0, false
	}
	start := strings.LastIndexByte(line[:pos], ' ') + 1
	word := line[start:pos]
	before := strings.Fields(line[:start])
	if len(before) > 0 && (before[0] == "xdpvsadm" || before[0] == "ipvsadm") {
		before = before[1:]
	}
	cands, anyWord := candidates(before, append(LongOptions(), shellWords...), addrs)
	match := matches(cands, word, anyWord)
	if len(match) == 0 {
		return "", 0, false
	}
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
