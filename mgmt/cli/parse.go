package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// ParseError is a command-line error; ipvsadm exits with status 2 on these.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func parseErr(format string, a ...any) error { return &ParseError{fmt.Sprintf(format, a...)} }

// ParseArgs parses one ipvsadm command line (without the program name). Errors are *ParseError
// with ipvsadm's wording where ipvsadm has one.
//
// A line with --health is a --health line: its options are the table's --health ones, each a
// whole word (`--check tcp`, `--check=tcp`, `-t VIP:PORT`), each checked as it is read. Any
// other line is ipvsadm's: short options may be grouped (-Ln, -srr), and once the line is read
// its command's needs are checked (ipvsadm's commands_v_options), then the options are set in
// the table's order, because some depend on others (-M on the family of -t, -b on -s, the port
// of -r on that of -t).
func ParseArgs(args []string) (*model.Command, error) {
	if len(args) > 0 && args[0] == "show" {
		return parseShow(args[1:])
	}
	if len(args) > 0 && (args[0] == string(model.OpDrain) || args[0] == string(model.OpUndrain)) {
		return parseDrain(args)
	}
	if len(args) > 0 && args[0] == "ha" {
		return parseHA(args[1:])
	}
	p := &parser{args: args, given: map[string]use{}, health: slices.Contains(args, "--health")}
	if p.health {
		p.c = model.Command{Op: model.OpHealth, Health: &model.HealthSpec{}}
	}
	for p.i = 0; p.i < len(args); p.i++ {
		var err error
		switch a := args[p.i]; {
		case p.health:
			err = p.healthWord(a)
		case a == "--":
			p.positional = append(p.positional, args[p.i+1:]...)
			p.i = len(args)
		case strings.HasPrefix(a, "--"):
			err = p.longOption(a)
		case len(a) > 1 && a[0] == '-':
			err = p.shortOptions(a)
		default:
			p.positional = append(p.positional, a)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.health {
		return p.finishHealth()
	}
	return p.finish()
}

// parser is the state of one line: the command so far and the options given, by name.
type parser struct {
	c          model.Command
	health     bool // a --health line
	args       []string
	i          int // the word being read
	given      map[string]use
	positional []string
}

// use is one option as given on the line.
type use struct {
	o     *option
	arg   string
	given bool // an argument was given (optional arguments)
}

// next takes the next word as an argument.
func (p *parser) next() (string, bool) {
	if p.i+1 < len(p.args) {
		p.i++
		return p.args[p.i], true
	}
	return "", false
}

// nextOptional takes the next word as an optional argument, unless it is an option.
func (p *parser) nextOptional() (string, bool) {
	if p.i+1 < len(p.args) && !strings.HasPrefix(p.args[p.i+1], "-") {
		return p.next()
	}
	return "", false
}

// longOption reads --name, --name=ARG or --name ARG.
func (p *parser) longOption(a string) error {
	name, arg, given := strings.Cut(a[2:], "=")
	o := findLong(name, false)
	if o == nil {
		return parseErr("%s: unknown option", a)
	}
	switch o.arg {
	case argNone:
		if given {
			return parseErr("--%s: option does not take an argument", name)
		}
	case argRequired:
		if !given {
			if arg, given = p.next(); !given {
				return parseErr("--%s: missing argument", name)
			}
		}
	case argOptional:
		if !given {
			arg, given = p.nextOptional()
		}
	}
	return p.use(o, "--"+name, arg, given)
}

// shortOptions reads a word of short options: -L, -Ln, -s rr, -srr, -p, -p 60.
func (p *parser) shortOptions(a string) error {
	for j := 1; j < len(a); j++ {
		o, arg, given, err := p.shortOption(a[j], a[j+1:])
		if err != nil {
			return err
		}
		if err := p.use(o, "-"+string(a[j]), arg, given); err != nil {
			return err
		}
		if given && a[j+1:] != "" {
			return nil // the rest of the word was the argument
		}
	}
	return nil
}

// shortOption finds the option of the letter c, followed by rest in its word, and its argument.
func (p *parser) shortOption(c byte, rest string) (o *option, arg string, given bool, err error) {
	switch {
	case c == 'o' && rest == "json": // -ojson
		return findLong("output", false), rest, true, nil
	case c == 'o' && rest == "" && p.i+1 < len(p.args) && p.args[p.i+1] == "json": // -o json
		arg, given = p.next()
		return findLong("output", false), arg, given, nil
	case c == 'o': // -o alone is ipvsadm's --ops
		return findLong("ops", false), "", false, nil
	case c == 'b' && (p.c.Op == model.OpAddService || p.c.Op == model.OpEditService):
		o = findLong("sched-flags", false) // -b is --sched-flags on a service, --fullnat on a real server (DPVS)
	case c == 'b':
		return findLong("fullnat", false), "", false, nil
	default:
		if o = findShort(c, false); o == nil {
			return nil, "", false, parseErr("-%s: unknown option", printable(c))
		}
	}
	switch {
	case o.arg == argNone:
	case rest != "":
		arg, given = rest, true
	case o.arg == argRequired:
		if arg, given = p.next(); !given {
			return nil, "", false, parseErr("-%c: missing argument", c)
		}
	default:
		arg, given = p.nextOptional()
	}
	return o, arg, given, nil
}

// printable quotes a byte of an unknown option that is not printable ASCII.
func printable(c byte) string {
	if c > ' ' && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

// use records an option of the line: a command is set at once, an option is kept for finish (on
// a --health line, set at once).
func (p *parser) use(o *option, name, arg string, given bool) error {
	switch {
	case o.unsup != "":
		return parseErr("%s: %s", name, o.unsup)
	case o.cmd != "":
		if p.c.Op != "" {
			return parseErr("multiple commands specified")
		}
		p.c.Op = o.cmd
		return nil
	case o.name() == "":
		return nil // --sort
	}
	if _, dup := p.given[o.name()]; dup {
		return parseErr("multiple '%s' options specified", o.name())
	}
	if o.check != nil {
		if err := o.check(name, arg); err != nil {
			return err
		}
	}
	p.given[o.name()] = use{o, arg, given}
	if p.health && o.set != nil {
		return o.set(p, arg, given)
	}
	return nil
}

// finish checks an ipvsadm line as ipvsadm does, then sets its options in the table's order and
// runs its command's own checks.
func (p *parser) finish() (*model.Command, error) {
	if p.c.Op == "" {
		return nil, parseErr("no command specified")
	}
	if err := p.checkNeeds(); err != nil {
		return nil, err
	}
	if err := p.takePositional(); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if u, ok := p.given[g.name]; ok {
			if err := u.o.set(p, u.arg, u.given); err != nil {
				return nil, err
			}
		}
	}
	if check := commandChecks[p.c.Op]; check != nil {
		if err := check(&p.c); err != nil {
			return nil, err
		}
	}
	return &p.c, nil
}

// checkNeeds is ipvsadm's check of a command's options: the compulsory ones given, no illegal
// one, at most one exclusive one; then the listing options that do not go together.
func (p *parser) checkNeeds() error {
	op, exclusiveGiven := p.c.Op, ""
	for _, g := range groups {
		_, given := p.given[g.name]
		switch n := g.in[op]; {
		case !given && n == required:
			return parseErr("You need to supply the '%s' option for the '%s' command", g.name, op)
		case !given:
		case n == 0:
			return parseErr("Illegal '%s' option with the '%s' command", g.name, op)
		case n == exclusive && exclusiveGiven != "":
			return parseErr("The option '%s' conflicts with the '%s' option in the '%s' command", g.name, exclusiveGiven, op)
		case n == exclusive:
			exclusiveGiven = g.name
		}
	}
	if op == model.OpList && p.givenAny("connection", "timeout") && p.givenAny("stats", "persistent-conn", "rate", "thresholds") {
		return parseErr("options conflicts in the list command")
	}
	return nil
}

func (p *parser) givenAny(names ...string) bool {
	return slices.ContainsFunc(names, func(n string) bool { _, ok := p.given[n]; return ok })
}

// takePositional takes the three timeouts of --set and the mode and threshold of --defense; any
// other word that is not an option is an error.
func (p *parser) takePositional() error {
	if p.c.Op == model.OpDefense {
		if len(p.positional) < 1 {
			return parseErr("--defense option requires a mode: auto, always or off")
		}
		p.c.Defense.Mode, p.positional = p.positional[0], p.positional[1:]
		if !slices.Contains(model.DefenseModes, p.c.Defense.Mode) {
			return parseErr("invalid defense mode %q: want auto, always or off", p.c.Defense.Mode)
		}
		if len(p.positional) > 0 {
			v, ok := numberArg(strings.TrimSuffix(p.positional[0], "%"), 1, 100)
			if !ok {
				return parseErr("invalid defense threshold %q: want a percentage from 1 to 100", p.positional[0])
			}
			p.c.Defense.Threshold, p.positional = int(v), p.positional[1:]
		}
	}
	if p.c.Op == model.OpSet {
		if len(p.positional) < 3 {
			return parseErr("--set option requires 3 timeout values")
		}
		var t [3]uint32
		for i := range t {
			v, err := timeoutArg(p.positional[i], 0)
			if err != nil {
				return err
			}
			t[i] = v
		}
		p.c.Timeouts = model.Timeouts{TCP: t[0], TCPFin: t[1], UDP: t[2]}
		p.positional = p.positional[3:]
	}
	if len(p.positional) > 0 {
		return parseErr("unexpected argument %s", p.positional[0])
	}
	return nil
}
