package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

// parseHA parses `ha role master|backup|fault` and `ha ready` (the words after ha).
func parseHA(args []string) (*model.Command, error) {
	const usage = "(ha role master|backup|fault, or ha ready)"
	switch {
	case len(args) == 0:
		return nil, parseErr("ha: what? %s", usage)
	case args[0] == "ready" && len(args) == 1:
		return &model.Command{Op: model.OpHAReady}, nil
	case args[0] == "role" && len(args) == 2 && slices.Contains(api.HARoles, strings.ToLower(args[1])):
		// keepalived's notify passes its state in capitals (MASTER, BACKUP, FAULT).
		return &model.Command{Op: model.OpHARole, Role: strings.ToLower(args[1])}, nil
	case args[0] == "role" && len(args) == 1:
		return nil, parseErr("ha role: which? %s", usage)
	case args[0] == "role" || args[0] == "ready":
		return nil, parseErr("ha %s: unexpected %q %s", args[0], strings.Join(args[1:], " "), usage)
	}
	return nil, parseErr("ha: unknown %q %s", args[0], usage)
}

// WriteHA prints `show ha`: the role, since when and what set it, whether the dataplane forwards,
// readiness, and the last changes of role.
func WriteHA(w io.Writer, h *api.HAState, now time.Time) {
	if h == nil {
		fmt.Fprintln(w, "HA: xdpvsd sent nothing")
		return
	}
	fwd := "forwarding"
	if !h.Forwarding {
		fwd = "standing by: forwarding nothing"
	}
	if !h.Enabled {
		fmt.Fprintf(w, "Role: %s (xdpvsd without --ha), %s\n", h.Role, fwd)
	} else {
		fmt.Fprintf(w, "Role: %s since %s (%s ago, %s), %s; %d transitions\n",
			h.Role, h.Since.Format(time.RFC3339), age(now.Sub(h.Since)), h.Reason, fwd, h.Transitions)
	}
	if h.Ready {
		fmt.Fprintln(w, "Ready: yes")
	} else {
		fmt.Fprintln(w, "Ready: no: "+h.NotReady)
	}
	if len(h.History) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nAt\tFrom\tTo\tReason")
	for _, t := range h.History {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.At.Format("15:04:05.000"), t.From, t.To, t.Reason)
	}
	tw.Flush()
}
