package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/api"
)

// WriteBGP prints `show bgp`: the speaker, its sessions, and every prefix the policy decides on
// with its state, the time of its last change, its announcements and withdrawals, and why it is
// not announced.
func WriteBGP(w io.Writer, b *api.BGPState, now time.Time) {
	if b == nil {
		fmt.Fprintln(w, "BGP: not configured (xdpvsd --bgp-as ASN --bgp-router-id ADDR --bgp-peer ADDR,ASN, or --export-table N)")
		return
	}
	var head []string
	if b.AS != 0 {
		head = append(head, fmt.Sprintf("AS %d", b.AS), "router-id "+b.RouterID.String(), fmt.Sprintf("hold %ds", b.HoldSeconds))
	}
	if b.ExportTable != 0 {
		head = append(head, fmt.Sprintf("export table %d", b.ExportTable))
	}
	if b.Routed {
		head = append(head, "routed (blackhole guards)")
	}
	state := "announcing"
	switch {
	case b.Draining && now.Before(b.DrainUntil):
		state = fmt.Sprintf("draining: GRACEFUL_SHUTDOWN for %s more", age(b.DrainUntil.Sub(now)))
	case b.Draining:
		state = "drained: every prefix withdrawn"
	case !b.Announcing:
		state = "withdrawn: " + b.Down
	}
	fmt.Fprintf(w, "BGP %s\nState: %s; %d announcements, %d withdrawals\n", strings.Join(head, ", "), state, b.Announcements, b.Withdrawals)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(b.Peers) > 0 {
		fmt.Fprintln(tw, "\nPeer\tAS\tState\tUptime\tAdvertised\tLast error")
		for _, p := range b.Peers {
			up := "-"
			if !p.Since.IsZero() {
				up = age(now.Sub(p.Since))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", p.Address, p.AS, p.State, up, p.Advertised, p.LastError)
		}
	}
	fmt.Fprintln(tw, "\nPrefix\tKind\tState\tSince\tAnnounced\tWithdrawn\tReason")
	for _, p := range b.Prefixes {
		st := "withdrawn"
		if p.Announced {
			st = "announced"
			if p.GracefulShutdown {
				st = "announced, graceful-shutdown"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", p.Prefix, p.Kind, st, age(now.Sub(p.Since)), p.Announcements, p.Withdrawals, p.Reason)
	}
	tw.Flush()
}

// age writes a duration as 1h02m, 3m04s or 5.2s.
func age(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(100 * time.Millisecond).String()
}
