package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Completion, for the shell's line editor (shell.go) and for bash (packaging/xdpvsadm.bash,
// which runs `xdpvsadm __complete WORD... CURRENT` and offers what it prints): options, the
// values some of them take (schedulers, kinds of check, show's verbs), and from the daemon the
// services after -t/-u and the real servers after -r/--sorry.

// completeVerb is the hidden first word of the bash completion's requests.
const completeVerb = "__complete"

// fixedValues are the values an option takes, completed after it.
var fixedValues = map[string]func() []string{
	"-s": model.SchedulerNames, "--scheduler": model.SchedulerNames,
	"--check":    func() []string { return append(slices.Clone(model.CheckKinds), "none") },
	"--on-fail":  func() []string { return []string{model.OnFailQuiesce, model.OnFailRemove} },
	"--defense":  func() []string { return []string{"auto", "always", "off"} },
	"--output":   func() []string { return []string{"json"} },
	"-j":         func() []string { return []string{"enable", "disable"} },
	"--synproxy": func() []string { return []string{"enable", "disable"} },
}

// candidates are the completions of the word after before (the words of the line before it),
// first being those of a line's first word; anyWord tells that an empty word completes too (to
// the only address, or the addresses' common prefix).
func candidates(before, first []string, addrs func(model.Protocol, bool, model.ServiceKey) []string) (cands []string, anyWord bool) {
	prev := ""
	if len(before) > 0 {
		prev = before[len(before)-1]
	}
	switch {
	case len(before) == 0:
		return first, false
	case before[0] == "show":
		if len(before) == 1 {
			for _, v := range model.ShowVerbs {
				cands = append(cands, v.String())
			}
		}
		return cands, false
	case before[0] == importVerb:
		return []string{"--apply"}, false
	case before[0] == "ha":
		switch {
		case len(before) == 1:
			return []string{"role", "ready"}, false
		case len(before) == 2 && before[1] == "role":
			return api.HARoles, false
		}
		return nil, false
	case fixedValues[prev] != nil:
		return fixedValues[prev](), true
	case addrs != nil && (prev == "-t" || prev == "--tcp-service"):
		return addrs(model.TCP, false, model.ServiceKey{}), true
	case addrs != nil && (prev == "-u" || prev == "--udp-service"):
		return addrs(model.UDP, false, model.ServiceKey{}), true
	case addrs != nil && (prev == "-r" || prev == "--real-server" || prev == "--sorry"):
		var svc model.ServiceKey
		for i, w := range before[:len(before)-1] {
			p := map[string]model.Protocol{"-t": model.TCP, "--tcp-service": model.TCP, "-u": model.UDP, "--udp-service": model.UDP}[w]
			if a, port, _, ok := parseAddrPort(before[i+1]); p != 0 && ok {
				svc = model.ServiceKey{Protocol: p, Address: a, Port: port}
			}
		}
		return addrs(0, true, svc), true
	}
	return LongOptions(), false
}

// matches are the candidates that complete word, sorted, once each.
func matches(cands []string, word string, anyWord bool) []string {
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) && (word != "" || anyWord) && !slices.Contains(match, c) {
			match = append(match, c)
		}
	}
	slices.Sort(match)
	return match
}

// completeWords answers the bash completion: words are the line's words after the command, the
// last one the word being completed (perhaps empty); it prints the completions one per line.
func (cl *client) completeWords(words []string, out io.Writer) int {
	if len(words) == 0 {
		words = []string{""}
	}
	before, word := words[:len(words)-1], words[len(words)-1]
	first := append(LongOptions(), "show", "drain", "undrain", importVerb)
	cands, anyWord := candidates(before, first, cl.addresses)
	for _, m := range matches(cands, word, anyWord) {
		fmt.Fprintln(out, m)
	}
	return ExitOK
}
