package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// WriteSync prints `show sync`: the channel, each peer's traffic, drops and lag, and the
// dataplane's export and import counters.
func WriteSync(w io.Writer, s *api.SyncState, now time.Time) {
	if s == nil {
		fmt.Fprintln(w, "Sync: not configured (xdpvsd --sync-peer ADDR[:PORT] --sync-key FILE)")
		return
	}
	fmt.Fprintf(w, "Sync on %v; join: %s; ready: %s\n", s.Listen, s.Join, yesNo(s.Ready))
	fmt.Fprintf(w, "Sent %d msgs, %d records, %d bytes; received %d msgs, %d records, %d bytes\n",
		s.Sent.Messages, s.Sent.Records, s.Sent.Bytes, s.Recv.Messages, s.Recv.Records, s.Recv.Bytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Peer\tSentMsgs\tSentRecs\tRecvMsgs\tRecvRecs\tLagP50\tLagP99\tLastRecv\tBulk\tDrops")
	for _, p := range s.Peers {
		last := "never"
		if !p.LastRecv.IsZero() {
			last = now.Sub(p.LastRecv).Round(time.Millisecond).String() + " ago"
		}
		bulk := "waiting"
		if !p.BulkDone.IsZero() {
			bulk = fmt.Sprintf("done (%d)", p.BulkRecs)
		}
		fmt.Fprintf(tw, "%v\t%d\t%d\t%d\t%d\t%v\t%v\t%s\t%s\t%s\n", p.Address, p.Sent.Messages, p.Sent.Records,
			p.Recv.Messages, p.Recv.Records, p.LagP50.Round(time.Microsecond), p.LagP99.Round(time.Microsecond), last, bulk, countList(p.Drops))
	}
	tw.Flush()
	for _, p := range s.Peers {
		if len(p.DigestMismatch) > 0 {
			fmt.Fprintf(w, "Scheduler tables that differ from %v's (show digest): %s\n", p.Address, strings.Join(p.DigestMismatch, ", "))
		}
	}
	if len(s.Drops) > 0 {
		fmt.Fprintf(w, "Dropped before a peer was known: %s\n", countList(s.Drops))
	}
	if len(s.Exports) > 0 {
		fmt.Fprintf(w, "Dataplane: %s\n", countList(s.Exports))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// countList is "name=count ..." of the non-zero counts, or "-".
func countList(cs []api.Count) string {
	var parts []string
	for _, c := range cs {
		if c.Count != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c.Name, c.Count))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
