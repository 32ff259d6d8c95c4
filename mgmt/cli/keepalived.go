package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/keepalived"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// `xdpvsadm import-keepalived FILE [--apply]` translates keepalived's load-balancing
// configuration (package mgmt/keepalived): it prints the xdpvs configuration in -S format (what
// `xdpvsadm -R` and xdpvsd --config read) and, on the error output, every part it did not
// translate or translated only approximately as FILE:LINE: why. With --apply it sends the
// configuration to the daemon as one change, as -R does, instead of printing it.

const importVerb = "import-keepalived"

// importKeepalived runs the import-keepalived verb. Exit status: 0 when translated (notes or
// not), 1 for a file that cannot be read or a daemon that refuses, 2 for a bad command line.
func (cl *client) importKeepalived(args []string, out, errw io.Writer) int {
	path, apply := "", false
	for _, a := range args {
		switch {
		case a == "--apply":
			apply = true
		case path == "" && !strings.HasPrefix(a, "-"):
			path = a
		default:
			fmt.Fprintf(errw, "%s: unexpected %q; usage: xdpvsadm %s FILE [--apply]\n", importVerb, a, importVerb)
			return ExitUsage
		}
	}
	if path == "" {
		fmt.Fprintf(errw, "usage: xdpvsadm %s FILE [--apply]\n", importVerb)
		return ExitUsage
	}
	res, err := keepalived.Import(path, nil)
	if err != nil {
		fmt.Fprintf(errw, "%s: %v\n", importVerb, err)
		return ExitError
	}
	lines, cmds, m, notes := checkImport(res)
	for _, n := range notes {
		fmt.Fprintln(errw, n)
	}
	fmt.Fprintf(errw, "%s: %s; %d notes\n", path, importSummary(m), len(notes))
	if !apply {
		fmt.Fprintf(out, "# xdpvsadm %s %s\n", importVerb, path)
		for _, c := range res.Comments {
			fmt.Fprintf(out, "# %s\n", c)
		}
		WriteRules(out, api.StateOf(m))
		return ExitOK
	}
	return cl.applyBatch(cmds, errw, "nothing applied", func(i int) string { return fmt.Sprintf("%s (%s)", lines[i], importVerb) })
}

// checkImport runs the translation's lines through the parser and a model of their own, as the
// daemon would: a line refused is a note, and a service whose -A is refused leaves out all its
// lines. It returns the lines kept, their commands, the model they make and all the notes.
func checkImport(res *keepalived.Result) (lines []string, cmds []model.Command, m *model.Model, notes []string) {
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	m = model.New()
	dropped := map[string]bool{}
	for _, l := range res.Lines {
		if dropped[l.Service] {
			continue
		}
		c, err := ParseArgs(strings.Fields(l.Text))
		if err == nil {
			_, err = m.Exec(c)
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s:%d: not translated: `%s': %v", l.File, l.Line, l.Text, err))
			if strings.HasPrefix(l.Text, "-A ") {
				dropped[l.Service] = true
			}
			continue
		}
		lines, cmds = append(lines, l.Text), append(cmds, *c)
	}
	return lines, cmds, m, notes
}

// importSummary says what a translation holds.
func importSummary(m *model.Model) string {
	servers, checks := 0, 0
	for _, s := range m.Services() {
		servers += len(s.Dests)
		if s.Health.Enabled() {
			checks++
		}
	}
	return fmt.Sprintf("%d services, %d real servers, %d health checks translated", len(m.Services()), servers, checks)
}
