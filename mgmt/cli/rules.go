package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// Rules are `xdpvsadm -S` output: `--set` (only when the timeouts are not the defaults), then per
// service an `-A` line, its `-a` lines, its `--add-laddr` lines (with `-F IFNAME` when one was
// given) and its `--health` line. Blank
// lines and lines starting with '#' are skipped when reading; any changing command is accepted, so
// a hand-written file may also use long options. -R and the daemon's configuration file read them.

// MaxRuleLine bounds one line of rules (-R input, the configuration file, a shell line).
const MaxRuleLine = 64 << 10

// ParseRules parses rules in the -S format (the -R input, the configuration file), one command per
// line. name is used in errors: "name:LINE: reason".
func ParseRules(r io.Reader, name string) ([]model.Command, error) {
	cmds, _, err := ParseNumberedRules(r, name)
	return cmds, err
}

// ParseNumberedRules is ParseRules that also returns the line number of each command, for errors
// found later (by the daemon) to name their line.
func ParseNumberedRules(r io.Reader, name string) ([]model.Command, []int, error) {
	var cmds []model.Command
	var lines []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxRuleLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c, err := ParseArgs(strings.Fields(text))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if !c.Op.Changes() {
			return nil, nil, fmt.Errorf("%s:%d: %s: only commands that change the configuration may appear here", name, line, c.Op)
		}
		cmds = append(cmds, *c)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, MaxRuleLine)
		}
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return cmds, lines, nil
}

// WriteRules writes `-S`: one `-A` line per service followed by its `-a` lines, as ipvsadm-save,
// then the DPVS `--add-laddr` lines of the service. A `--set` line comes first when the timeouts
// are not IPVS's defaults. Options xdpvs adds to a line (-j, -x, -y, -b on a real server) appear only
// when set, so a plain configuration is saved exactly as ipvsadm saves it.
func WriteRules(w io.Writer, st *api.State) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	if st.Timeouts != model.DefaultTimeouts {
		fmt.Fprintf(bw, "--set %d %d %d\n", st.Timeouts.TCP, st.Timeouts.TCPFin, st.Timeouts.UDP)
	}
	if d := st.Defense; d != model.DefaultDefense && d.Mode != "" {
		fmt.Fprintf(bw, "--defense %s %d\n", d.Mode, d.Threshold)
	}
	for i := range st.MarkRules {
		fmt.Fprintf(bw, "--add-mark %s\n", markArgs(&st.MarkRules[i]))
	}
	for i := range st.Services {
		s := &st.Services[i]
		svc := serviceSwitch(&s.ServiceKey)
		fmt.Fprintf(bw, "-A %s -s %s", svc, s.Scheduler)
		if s.SchedFlags != 0 || s.MHSize != 0 {
			fmt.Fprintf(bw, " -b %s", schedFlagNames(s.Scheduler, s.SchedFlags, s.MHSize))
		}
		if s.Persistent {
			fmt.Fprintf(bw, " -p %d", s.Timeout)
			if s.Netmask != model.FullMask(s.Address) {
				fmt.Fprintf(bw, " -M %s", maskString(s.Address, s.Netmask))
			}
		}
		if s.OnePacket {
			bw.WriteString(" -o")
		}
		if s.SynProxy {
			bw.WriteString(" -j")
		}
		if s.ProxyProtocol != "" {
			bw.WriteString(" --proxy-protocol " + s.ProxyProtocol)
		}
		if s.Policy != 0 {
			bw.WriteString(" --policy " + PolicyString(s.Policy))
		}
		if s.MinServers != 0 && s.MinServers != model.DefaultMinServers {
			fmt.Fprintf(bw, " --bgp-min-servers %d", s.MinServers)
		}
		bw.WriteString("\n")
		for j := range s.RealServers {
			d := &s.RealServers[j]
			if d.Sorry {
				continue
			}
			fmt.Fprintf(bw, "-a %s -r %s %s -w %d", svc, addrPort(d.Address, d.Port), forwardSwitch(d.Forward), d.Weight)
			if d.UThreshold != 0 {
				fmt.Fprintf(bw, " -x %d", d.UThreshold)
			}
			if d.LThreshold != 0 {
				fmt.Fprintf(bw, " -y %d", d.LThreshold)
			}
			bw.WriteString("\n")
		}
		for _, l := range s.LocalAddrs {
			fmt.Fprintf(bw, "--add-laddr -z %s %s", l, svc)
			if ifname := s.LocalIfaces[l]; ifname != "" {
				fmt.Fprintf(bw, " -F %s", ifname)
			}
			bw.WriteString("\n")
		}
		if s.Health != nil && s.Health.Enabled() {
			fmt.Fprintf(bw, "--health %s %s\n", svc, healthArgs(s.Health))
		}
	}
}

// forwardSwitch is the ipvsadm switch that selects the method.
func forwardSwitch(f model.Forward) string {
	switch f {
	case model.Masq:
		return "-m"
	case model.Tunnel:
		return "-i"
	case model.FullNAT:
		return "-b"
	}
	return "-g"
}
