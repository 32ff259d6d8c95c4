// Package cliflag keeps the commands' old flag spellings working: one vocabulary of flags across
// xdpvsd, xdpvs-rs, xdpvs-pktgen and xdpvs-demo, and the names it replaced as deprecated aliases
// that set the new flag and print a one-line notice, so that operators' scripts do not break.
package cliflag

import (
	"flag"
	"fmt"
)

// Deprecated registers old on fs as a deprecated spelling of the flag current, which must be
// defined already: --old V sets --current V. If value is not empty, old is a boolean flag meaning
// --current value (--json for --output json). Each use prints "NAME: --old is deprecated; use
// --current [value]" to fs.Output().
func Deprecated(fs *flag.FlagSet, old, current, value string) {
	f := fs.Lookup(current)
	if f == nil {
		panic("cliflag: no flag --" + current)
	}
	a := &alias{fs: fs, old: old, current: f, value: value}
	use := "deprecated: use --" + current
	if value != "" {
		use += " " + value
	}
	fs.Var(a, old, use)
}

type alias struct {
	fs      *flag.FlagSet
	old     string
	current *flag.Flag
	value   string // for a boolean alias: the value of current it stands for
}

// String is empty: the usage shows the default beside the current spelling only.
func (a *alias) String() string { return "" }

func (a *alias) Set(v string) error {
	use := "--" + a.current.Name
	if a.value != "" {
		use += " " + a.value
		if v != "true" {
			return fmt.Errorf("--%s takes no value (it is %s)", a.old, use)
		}
		v = a.value
	}
	fmt.Fprintf(a.fs.Output(), "%s: --%s is deprecated; use %s\n", a.fs.Name(), a.old, use)
	return a.current.Value.Set(v)
}

// IsBoolFlag makes a boolean alias (and an alias of a boolean flag) take no argument.
func (a *alias) IsBoolFlag() bool {
	if a.value != "" {
		return true
	}
	b, ok := a.current.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
