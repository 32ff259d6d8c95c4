// Package xsk is xdpvs's AF_XDP layer: UMEM, the fill/completion/RX/TX
// rings, sockets, and the XDP steering program that decides which packets
// reach them.
//
// # Sockets and UMEM
//
// A worker owns one [UMEM] and binds one [Socket] per interface on its
// queue with [UMEM.Bind]. The first Bind registers the UMEM on its socket;
// later Binds share it (XDP_SHARED_UMEM) with their own fill and completion
// rings, so a frame received on one interface is transmitted from another
// without a copy. Rings follow libxdp's xsk.h: shared producer/consumer
// indices are read and written atomically, each side keeps cached copies,
// and the verbs are Reserve/Submit/Peek/Release/Cancel.
//
// A UMEM and its sockets are for one goroutine: nothing is locked. The
// per-packet methods (Receive, Transmit, Complete, Refill, Wakeup) never
// allocate and never return an error; they return counts. Setup methods
// return errors wrapped with the operation ("xsk: bind ifindex 3 queue 1:
// ...") and [ErrNotSupported] for kernel gaps.
//
// Frame ownership: a frame address is either on the free stack ([UMEM.Alloc],
// [UMEM.Free]), in a fill ring, in an RX descriptor handed to the caller by
// Receive, in a TX ring, or in a completion ring. Transmit takes ownership
// of the descriptors it accepts; the caller frees those it did not accept.
// Complete returns transmitted frames to the free stack.
//
// # Packet size
//
// The kernel places a received packet XDP_PACKET_HEADROOM (256) bytes into
// its frame (the UMEM has no extra headroom), so the largest packet is
// [UMEM.MaxPacket] = FrameSize - 256: 3840 bytes with 4096-byte frames (an
// Ethernet MTU of 3826, less 4 per VLAN tag), 1792 with 2048-byte frames
// (MTU 1778). Larger packets are dropped by the kernel and counted in
// XDP_STATISTICS rx_dropped. Native XDP on veth further limits the peer MTU
// to about 3500 bytes.
//
// # Steering
//
// [Steering] loads the XDP program (bpf/steer.c, built by bpf2go) once per
// interface, each instance with its own XSKMAP indexed by queue and all of
// them sharing the services, real-server, local-address and host-address
// maps and a per-CPU stats array. The program redirects only what the
// director must handle and passes the rest to the kernel; see the comment
// at the top of bpf/steer.c. A Steering works in the network namespace of
// the thread that calls Attach.
//
// # Fast path
//
// With [Steering.EnableFastPath] (before the first Attach) the program also
// forwards packets itself: those whose tuple has a [FastRecord] the workers
// installed with [Steering.AddFast4] or [Steering.AddFast6] (one map per
// family; removed with [Steering.DeleteFast4], [Steering.DeleteFast6]),
// rewritten as the record says and redirected through a devmap of the ports;
// each is counted in the record's [FastStat] slot, memory shared with the
// program ([Steering.FastStats]). See bpf/fastpath.h.
package xsk
