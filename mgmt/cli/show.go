package cli

import (
	"io"
	"slices"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// parseShow parses `show VERB [-o json]`.
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
		default:
			return nil, parseErr("show: unexpected %q (show %s [-o json])", a, showVerbs())
		}
	}
	if c.Show == "" {
		return nil, parseErr("show: what? (show %s [-o json])", showVerbs())
	}
	return c, nil
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
	model.ShowWorkers:     func(w io.Writer, st *api.State) { WriteWorkers(w, st.Workers, false) },
	model.ShowQueues:      func(w io.Writer, st *api.State) { WriteQueues(w, st.Workers) },
	model.ShowDrops:       func(w io.Writer, st *api.State) { WriteWorkers(w, st.Workers, true) },
	model.ShowEvents:      func(w io.Writer, st *api.State) { WriteEvents(w, st.Workers) },
	model.ShowSynProxy:    func(w io.Writer, st *api.State) { WriteSynProxy(w, st.Workers) },
	model.ShowDefense:     WriteDefense,
	model.ShowHealth:      func(w io.Writer, st *api.State) { WriteHealth(w, st, time.Now()) },
	model.ShowConfig:      func(w io.Writer, st *api.State) { WriteConfigStatus(w, st.Config, time.Now()) },
	model.ShowBGP:         func(w io.Writer, st *api.State) { WriteBGP(w, st.BGP, time.Now()) },
}
