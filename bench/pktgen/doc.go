// Package pktgen generates UDP and TCP traffic at line rate, counts and times it at the far end
// with an XDP sink, searches the no-drop and partial-drop rates (RFC 2544), and opens TCP
// connections for connections per second.
//
// # Engines
//
// Two engines send the same frames; [Open] returns either as a [Sender].
//
//   - [EngineProgRun] ([Generator], the default): an XDP program run with BPF_PROG_RUN in
//     live-frames mode writes every frame and returns XDP_TX, which hands it to the interface
//     (ndo_xdp_xmit): about 7 Mpps per core into a veth.
//   - [EngineAFXDP] ([XSKGenerator]): the frames are written into the UMEM of an AF_XDP socket
//     bound to one queue of the interface and sent from its TX ring, in batches (one
//     Reserve/Submit and one sendto each, need_wakeup honoured), with completed frames recycled
//     from the completion ring. A veth has copy mode only: the kernel builds one skb per frame,
//     about 1–2 Mpps per core. The socket needs no XDP program: one is needed only to receive.
//
// A run sends count frames out of one interface from the calling thread (optionally pinned to a
// CPU) inside a network namespace, as fast as it can or paced to a target rate, reporting
// progress every second; its [Result] says how many frames went to the interface and how long
// that took.
//
// The per-frame contract, the same for both engines (bpf/gen.c, and framer for AF_XDP; a test
// compares them byte for byte): every frame is the template of Config.Frame, and only its flow
// (source port and source address, over Config.Flows ports × Config.Addrs addresses, ports
// fastest), its TCP sequence number (the frame counter) and its payload stamp (magic, flow,
// CLOCK_MONOTONIC time in ns, the clock of bpf_ktime_get_ns) vary, with the checksums updated
// incrementally (RFC 1624). The BPF engine copies the template into each live frame, which the
// kernel recycles with whatever a receiver left in it; the AF_XDP engine writes the template into
// its UMEM frames once and then only the varying fields (the kernel never writes a TX frame), and
// stamps once per batch.
//
// # Pacing
//
// With a target rate, a run is paced by a token bucket refilled at the rate: it sends when it
// holds PaceSlice's worth of frames (100 µs, at least one frame) and sleeps with nanosleep (1 ns
// of timer slack) otherwise; a late wake-up is made up with one burst of at most three quanta
// (or 32 frames), and time lost beyond that shows as an achieved rate below the target rather
// than as a larger burst. Bursts therefore stay near Rate×100 µs (50 frames at 0.5 Mpps), and
// under Rate×300 µs.
//
// Two platform facts stood in the way, and are handled here. time.Sleep wakes through the Go
// runtime's netpoller at millisecond granularity (a 50 µs sleep takes 1.1 ms). And every
// BPF_PROG_RUN of an XDP program adds the program to the kernel's XDP dispatcher and removes it
// again, each change waiting for an RCU grace period: about 25 ms per call on the development
// VMs, whatever the repeat count. A [Generator] keeps its program in the dispatcher for its whole
// life by attaching it in generic mode to the loopback of a private, unnamed network namespace
// (down, so the program never runs there), so that a call costs little more than its frames;
// [Generator.Anchored] says whether that worked. Without the anchor a paced prog-run cannot keep
// both its rate and small bursts: one call per 25 ms means bursts of Rate×25 ms frames (6,000 at
// 0.25 Mpps, which overflow a 2048-descriptor AF_XDP ring at a tenth of the receiver's
// capacity), and this pacer, which does not catch up, sends a few thousand frames a second.
//
// # Sink, search, connections
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
