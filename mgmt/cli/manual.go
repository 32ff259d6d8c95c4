package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// The manual page xdpvsadm(8), made from the option table (options.go): its commands and options
// in the table's order, with their short and long names and the argument each takes, described
// by optionDocs. An entry of the table without its description (or a description of nothing)
// fails TestManual, so the page cannot drift from the parser; docs/man/xdpvsadm.8 is the output,
// rewritten by go test -run TestManual -update ./mgmt/cli/, installed by make install.

// optionDoc describes one entry of the option table: the name of its argument and what it does.
type optionDoc struct {
	arg  string
	text string
}

// docKey is an entry's key in optionDocs: its long name, "health:NAME" on the --health line.
func (o *option) docKey() string {
	if o.health() && o.long != "health" {
		return "health:" + o.long
	}
	return o.long
}

// manRoff escapes text for a manual page.
func manRoff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// WriteManual writes xdpvsadm(8).
func WriteManual(w io.Writer) {
	fmt.Fprint(w, manualHead)
	writeManualSynopsis(w)
	fmt.Fprint(w, manualDescription)
	writeManualEntries(w, "COMMANDS", func(o *option) bool { return o.cmd != "" && o.long != "" })
	writeManualEntries(w, "OPTIONS", func(o *option) bool { return o.cmd == "" && o.unsup == "" && !o.health() })
	fmt.Fprint(w, manualHealthIntro)
	writeManualEntries(w, "", func(o *option) bool { return o.health() && o.long != "health" })
	fmt.Fprint(w, ".SH SHOW\n.B xdpvsadm show\n.I VERB\n.RB [ \\-o\\ json ]\nlists the daemon's view, one verb each:\n")
	for _, v := range model.ShowVerbs {
		fmt.Fprintf(w, ".TP\n.B %s\n%s\n", manRoff(v.String()), manRoff(showDocs[v]))
	}
	fmt.Fprint(w, manualVerbs)
	fmt.Fprintf(w, ".SH SCHEDULERS\n%s (the default is %s).\n", manRoff(strings.Join(model.SchedulerNames(), ", ")), model.DefaultScheduler())
	writeManualUnsupported(w)
	fmt.Fprint(w, manualTail)
}

func writeManualSynopsis(w io.Writer) {
	var b strings.Builder
	writeSynopsis(&b)
	fmt.Fprintln(w, ".SH SYNOPSIS\n.nf")
	for _, l := range strings.Split(b.String(), "\n")[1:] {
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintln(w, manRoff(l))
		}
	}
	fmt.Fprintln(w, ".fi")
}

// writeManualEntries writes the entries of the table that pick selects, under a section heading
// (none if empty).
func writeManualEntries(w io.Writer, section string, pick func(*option) bool) {
	if section != "" {
		fmt.Fprintf(w, ".SH %s\n", section)
	}
	var done []string
	for i := range options {
		o := &options[i]
		if !pick(o) || slices.Contains(done, o.docKey()) {
			continue
		}
		done = append(done, o.docKey())
		d := optionDocs[o.docKey()]
		names := `\-\-` + manRoff(o.long)
		if o.short != 0 {
			names = fmt.Sprintf(`\-%c, %s`, o.short, names)
		}
		if o.long == "fullnat" && !o.health() {
			names = `\-b, ` + names // -b on a real server (on a service it is --sched-flags)
		}
		arg := ""
		switch {
		case d.arg != "" && o.arg == argOptional:
			arg = " [" + manRoff(d.arg) + "]"
		case d.arg != "":
			arg = " " + manRoff(d.arg)
		}
		fmt.Fprintf(w, ".TP\n.B %s\\fI%s\\fR\n%s\n", names, arg, manRoff(d.text))
	}
}

func writeManualUnsupported(w io.Writer) {
	fmt.Fprint(w, ".SH NOT SUPPORTED\nThese options of ipvsadm are refused, with the reason:\n")
	for _, o := range options {
		if o.unsup != "" {
			names := `\-\-` + manRoff(o.long)
			if o.short != 0 {
				names = fmt.Sprintf(`\-%c, %s`, o.short, names)
			}
			fmt.Fprintf(w, ".TP\n.B %s\n%s.\n", names, manRoff(o.unsup))
		}
	}
}
