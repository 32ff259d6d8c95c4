package cli

import (
	"slices"
	"strings"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// ShowVerbs are the things `show` lists: services (-Ln), servers (real servers with their
// effective weight and health), connections (-Lnc), workers (per-worker counters), queues (the
// AF_XDP socket statistics of every queue), drops (by reason), events (what workers did besides
// forwarding and dropping), synproxy (the SYN proxy's counters), health (the checks and states).
var ShowVerbs = []string{"services", "servers", "connections", "workers", "queues", "drops", "events", "synproxy", "health"}

var showWhat = ShowVerbs

// parseShow parses `show workers|drops [-o json]`.
func parseShow(args []string) (*model.Command, error) {
	c := &model.Command{Op: model.OpShow}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args) && args[i+1] == "json", a == "--output=json":
			c.List.JSON = true
			if a == "-o" {
				i++
			}
		case c.Show == "" && slices.Contains(showWhat, a):
			c.Show = a
		default:
			return nil, parseErr("show: unexpected %q (show %s [-o json])", a, strings.Join(showWhat, "|"))
		}
	}
	if c.Show == "" {
		return nil, parseErr("show: what? (show %s [-o json])", strings.Join(showWhat, "|"))
	}
	return c, nil
}
