package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestDefenseCommand: --defense takes a mode and an optional percentage, refuses anything else
// with a clear message, and -S writes a setting other than the default so that -R restores it.
func TestDefenseCommand(t *testing.T) {
	for _, c := range []struct {
		args string
		want model.Defense
		err  string
	}{
		{args: "--defense always", want: model.Defense{Mode: "always"}},
		{args: "--defense off", want: model.Defense{Mode: "off"}},
		{args: "--defense auto 75", want: model.Defense{Mode: "auto", Threshold: 75}},
		{args: "--defense auto 80%", want: model.Defense{Mode: "auto", Threshold: 80}},
		{args: "--defense", err: "--defense option requires a mode"},
		{args: "--defense sometimes", err: `invalid defense mode "sometimes"`},
		{args: "--defense auto 0", err: `invalid defense threshold "0"`},
		{args: "--defense auto 101", err: `invalid defense threshold "101"`},
		{args: "--defense auto 50 extra", err: "unexpected argument extra"},
		{args: "--defense auto -t 198.18.0.10:80", err: "Illegal 'service-address' option with the 'defense' command"},
	} {
		cmd, err := ParseArgs(strings.Fields(c.args))
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.args, err)
		case cmd.Op != model.OpDefense || cmd.Defense != c.want:
			t.Errorf("%s: %+v, want %+v", c.args, cmd.Defense, c.want)
		}
	}
	m := model.New()
	for _, line := range []string{"--defense always", "--defense auto 60"} {
		cmd, _ := ParseArgs(strings.Fields(line))
		if _, err := m.Exec(cmd); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		WriteRules(&b, &api.State{Timeouts: m.Timeouts(), Defense: m.Defense()})
		want := line + "\n"
		if line == "--defense always" {
			want = "--defense always 90\n"
		}
		if b.String() != want {
			t.Errorf("after %s, -S wrote %q, want %q", line, b.String(), want)
		}
	}
	var b bytes.Buffer
	WriteRules(&b, &api.State{Timeouts: model.DefaultTimeouts, Defense: model.DefaultDefense})
	if b.Len() != 0 {
		t.Errorf("the default defence is saved: %q", b.String())
	}
}
