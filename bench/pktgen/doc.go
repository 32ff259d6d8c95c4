// Package pktgen generates UDP traffic at line rate from an XDP program run with BPF_PROG_RUN in
// live-frames mode, and counts it at the far end with an XDP sink.
//
// A [Generator] sends count frames out of one interface from the calling thread (optionally pinned
// to a CPU) inside a network namespace; its [Result] says how many frames the program handed to the
// interface (XDP_TX) and how long that took. Every frame is written in full from a template, with
// the UDP source port stepping through Config.Flows ports, so frames recycled by the kernel never
// carry stale headers. A [Sink] attached to an interface in native mode counts and drops UDP frames
// per CPU and passes everything else, so ARP and ND still work.
//
// Frame sizes follow RFC 2544: Config.Size includes the 4-byte FCS, so a 64-byte frame puts 60
// bytes on a veth, and 1518 is the largest (1500-byte IP packet).
package pktgen
