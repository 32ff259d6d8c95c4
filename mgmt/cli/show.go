package cli

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
	"github.com/xdpvs/xdpvs/sched"
)

// parseShow parses `show VERB [-o json]`, and `show pick -t|-u VIP:PORT CLIENT... [-o json]`.
func parseShow(args []string) (*model.Command, error) {
	c := &model.Command{Op: model.OpShow}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args) && args[i+1] == "json", a == "--output=json":
			c.List.JSON = true
			if a == "-o" {
				i++
			}
		case c.Show == "" && slices.Contains(model.ShowVerbs, model.Show(a)):
			c.Show = model.Show(a)
		case c.Show == model.ShowPick:
			n, err := pickWord(c, args[i:])
			if err != nil {
				return nil, err
			}
			i += n
		default:
			return nil, parseErr("show: unexpected %q (show %s [-o json])", a, showVerbs())
		}
	}
	if c.Show == "" {
		return nil, parseErr("show: what? (show %s [-o json])", showVerbs())
	}
	if c.Show == model.ShowPick && (!c.HasService || len(c.Clients) == 0) {
		return nil, parseErr("show pick: which service and clients? (show pick -t|-u VIP:PORT CLIENT[:PORT]...)")
	}
	return c, nil
}

// pickWord reads one word of show pick from words: -t|-u VIP:PORT (it returns 1: the words it
// took besides the first) or a client, ADDR or ADDR:PORT ([ADDR]:PORT for IPv6).
func pickWord(c *model.Command, words []string) (int, error) {
	switch a := words[0]; a {
	case "-t", "--tcp-service", "-u", "--udp-service":
		if len(words) < 2 || c.HasService {
			return 0, parseErr("show pick: %s needs one service-address", a)
		}
		addr, port, _, ok := parseAddrPort(words[1])
		if !ok {
			return 0, parseErr("illegal virtual server address[:port] specified")
		}
		proto := model.TCP
		if a == "-u" || a == "--udp-service" {
			proto = model.UDP
		}
		c.HasService, c.Service.ServiceKey = true, model.ServiceKey{Protocol: proto, Address: addr, Port: port}
		return 1, nil
	default:
		addr, port, _, ok := parseAddrPort(a)
		if !ok {
			return 0, parseErr("show pick: illegal client address[:port] %q", a)
		}
		c.Clients = append(c.Clients, netip.AddrPortFrom(addr, port))
		return 0, nil
	}
}

// showVerbs lists the verbs of show as the usage does: "services|servers|...".
func showVerbs() string {
	var b strings.Builder
	for i, v := range model.ShowVerbs {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// parseDrain parses `drain` and `undrain`, which take nothing.
func parseDrain(args []string) (*model.Command, error) {
	if len(args) > 1 {
		return nil, parseErr("%s: unexpected %q (%s takes no argument)", args[0], args[1], args[0])
	}
	return &model.Command{Op: model.Op(args[0])}, nil
}

// showWriters print each verb's listing.
var showWriters = map[model.Show]func(w io.Writer, st *api.State){
	model.ShowServices:    WriteServices,
	model.ShowServers:     WriteServers,
	model.ShowConnections: func(w io.Writer, st *api.State) { WriteConns(w, st.Connections) },
	model.ShowWorkers: func(w io.Writer, st *api.State) {
		if st.WorkerChoice != "" {
			fmt.Fprintf(w, "Workers: %d (%s)\n", len(st.Workers), st.WorkerChoice)
		}
		WriteWorkers(w, st.Workers, false)
	},
	model.ShowQueues:   func(w io.Writer, st *api.State) { WriteQueues(w, st.Workers) },
	model.ShowDrops:    func(w io.Writer, st *api.State) { WriteWorkers(w, st.Workers, true) },
	model.ShowEvents:   func(w io.Writer, st *api.State) { WriteEvents(w, st.Workers) },
	model.ShowSynProxy: func(w io.Writer, st *api.State) { WriteSynProxy(w, st.Workers) },
	model.ShowDefense:  WriteDefense,
	model.ShowHealth:   func(w io.Writer, st *api.State) { WriteHealth(w, st, time.Now()) },
	model.ShowConfig:   func(w io.Writer, st *api.State) { WriteConfigStatus(w, st.Config, time.Now()) },
	model.ShowBGP:      func(w io.Writer, st *api.State) { WriteBGP(w, st.BGP, time.Now()) },
	model.ShowDigest:   WriteDigests,
	model.ShowPick:     func(w io.Writer, st *api.State) { WritePicks(w, st.Picks) },
	model.ShowSync:     func(w io.Writer, st *api.State) { WriteSync(w, st.Sync, time.Now()) },
	model.ShowMarks:    WriteMarks,
	model.ShowHA:       func(w io.Writer, st *api.State) { WriteHA(w, st.HA, time.Now()) },
}

// WriteDigests lists the digest of each service's scheduler table (show digest): "-" for a
// scheduler without one (not mh, sh or dh).
func WriteDigests(w io.Writer, st *api.State) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Prot\tLocalAddress:Port\tScheduler\tTable\tDigest")
	for i := range st.Services {
		s := &st.Services[i]
		size, digest := "-", s.TableDigest
		if digest == "" {
			digest = "-"
		} else if s.Scheduler == "mh" {
			size = strconv.Itoa(cmp.Or(s.MHSize, sched.MHDefaultSize))
		} else {
			size = "256"
		}
		prot, addr := s.Protocol.String(), netip.AddrPortFrom(s.Address, s.Port).String()
		if s.FWMark != 0 {
			prot, addr, _ = strings.Cut(serviceName(&s.ServiceKey), "  ") // FWM, then the mark
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", prot, addr, s.Scheduler, size, digest)
	}
	tw.Flush()
}

// WritePicks lists show pick's answer, a client a line: "CLIENT -> RIP:RPORT", or "none".
func WritePicks(w io.Writer, picks []api.Pick) {
	for _, p := range picks {
		to := "none"
		if p.Server.IsValid() {
			to = p.Server.String()
		}
		fmt.Fprintf(w, "%s -> %s\n", p.Client, to)
	}
}
