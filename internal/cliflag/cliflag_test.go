package cliflag

import (
	"bytes"
	"flag"
	"testing"
)

func newSet(t *testing.T) (*flag.FlagSet, *string, *string, *bool, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	fs.SetOutput(&out)
	attach := fs.String("attach", "auto", "attach mode")
	output := fs.String("output", "text", "text or json")
	quiet := fs.Bool("quiet", false, "no progress")
	Deprecated(fs, "xdp-mode", "attach", "")
	Deprecated(fs, "json", "output", "json")
	Deprecated(fs, "silent", "quiet", "")
	return fs, attach, output, quiet, &out
}

// TestDeprecated: an old spelling sets the new flag and prints one line naming the new spelling;
// the new spelling prints nothing.
func TestDeprecated(t *testing.T) {
	for _, tc := range []struct {
		args                 []string
		attach, output, note string
		quiet                bool
	}{
		{[]string{"--attach", "native"}, "native", "text", "", false},
		{[]string{"--xdp-mode", "generic"}, "generic", "text", "cmd: --xdp-mode is deprecated; use --attach\n", false},
		{[]string{"--xdp-mode=native"}, "native", "text", "cmd: --xdp-mode is deprecated; use --attach\n", false},
		{[]string{"--json"}, "auto", "json", "cmd: --json is deprecated; use --output json\n", false},
		{[]string{"--silent", "rest"}, "auto", "text", "cmd: --silent is deprecated; use --quiet\n", true},
		{[]string{"--output", "json", "--quiet"}, "auto", "json", "", true},
	} {
		fs, attach, output, quiet, out := newSet(t)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if *attach != tc.attach || *output != tc.output || *quiet != tc.quiet || out.String() != tc.note {
			t.Errorf("%v: attach %q output %q quiet %v, printed %q; want %q %q %v, %q", tc.args, *attach, *output, *quiet, out.String(),
				tc.attach, tc.output, tc.quiet, tc.note)
		}
	}
	fs, _, _, _, _ := newSet(t)
	if err := fs.Parse([]string{"--json=false"}); err == nil {
		t.Error("--json=false accepted")
	}
}

// TestDeprecatedUsage: the usage text names the replacement.
func TestDeprecatedUsage(t *testing.T) {
	fs, _, _, _, out := newSet(t)
	fs.PrintDefaults()
	for _, want := range []string{"deprecated: use --attach", "deprecated: use --output json", "deprecated: use --quiet"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}

// TestDeprecatedUnknown: an alias of a flag that does not exist is a programming error.
func TestDeprecatedUnknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Deprecated(flag.NewFlagSet("cmd", flag.ContinueOnError), "old", "missing", "")
}
