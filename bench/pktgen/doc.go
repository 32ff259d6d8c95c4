// Package pktgen generates UDP and TCP traffic at line rate from an XDP program run with
// BPF_PROG_RUN in live-frames mode, counts and times it at the far end with an XDP sink, searches
// the no-drop and partial-drop rates (RFC 2544), and opens TCP connections for connections per
// second.
//
// A [Generator] sends count frames out of one interface from the calling thread (optionally pinned
// to a CPU) inside a network namespace, as fast as it can or paced to a target rate, reporting
// progress every second; its [Result] says how many frames the program handed to the interface
// (XDP_TX) and how long that took. Every frame is written in full from a template, then its flow
// (source port and source address, over Config.Flows ports × Config.Addrs addresses), TCP sequence
// number and payload stamp (magic, flow, bpf_ktime_get_ns) are set and the checksums updated
// incrementally, so frames recycled by the kernel never carry stale headers.
//
// A [Sink] attached to an interface in native mode counts and drops UDP frames (and TCP, with
// SetDropTCP) per CPU and passes everything else, so ARP and ND still work; it turns the stamps
// into a latency [Histogram] (min, p50, p99, p99.9, max). [Search] is the RFC 2544 binary search
// over a [Trial]. [RunCPS] and [ServeCPS] are the two ends of a connections-per-second run, on the
// kernel's TCP stack.
//
// Frame sizes follow RFC 2544: Config.Size includes the 4-byte FCS, so a 64-byte frame puts 60
// bytes on a veth, and 1518 is the largest (1500-byte IP packet).
package pktgen
