// Package dataplane forwards packets: one worker per NIC queue, each locked to an OS thread and a
// CPU, owning queue q of every interface through AF_XDP sockets that share one UMEM, and its own
// connection table. A packet goes classify → connection lookup → schedule (new connections) →
// rewrite → transmit, and ends in a Verdict with a counter; nothing on that path allocates, locks,
// logs or returns an error. The packet travels in a cursor passed from function to function, and a
// connection's transmit function (DR, tunnel, NAT, FULLNAT, NAT64) is bound when it opens: xmit.go
// lists the functions of the path in the order a packet meets them. A worker reads each batch it
// receives ahead first (readahead.go): parse, hash, then the table's index slots and entries for
// the whole batch, so that a large table's cache misses overlap rather than follow one another.
//
// mgmt reaches the dataplane only through Control: Apply publishes an immutable Snapshot with one
// atomic pointer swap that workers pick up between batches; Stats reads the counters each worker
// publishes every 100 ms (and before it sleeps), without waiting for any; Connections is answered
// by each worker a batch at a time (at most 512 connections and 50 µs), between two of its packet
// batches. Next-hop MACs come from the kernel's neighbour and route tables over netlink, kept in a
// lock-free table the workers read (neigh.go), each worker with a small cache of the next hops its
// new connections found (hopcache.go); so do the tunnels' source addresses, the kernel's choice
// toward each real server (tunsrc.go).
//
// Ownership: a connection belongs to one worker. With several workers the owner is a hash of the
// client's address and port (both directions of a NAT flow carry them), and a packet that arrives
// on another worker's queue is handed over through a single-producer ring (counted).
//
// Fragments (frag.go): the first fragment of a TCP or UDP datagram is classified by its ports;
// the later ones, which carry none, follow its verdict. All of a datagram's fragments meet on its
// gatherer, a keyed hash of (source, destination, protocol, ID), which checks their byte ranges
// (overlap, RFC 5722, and oversize drop the datagram), holds those that come before the first in a
// preallocated pool, and sends them, first one first, to the worker owning the first fragment's
// connection (VerdictHandoffFragment: a second hop, never a third). That worker rewrites them as
// the connection's packets: the L4 checksum (in the first fragment) incrementally as usual, the
// addresses alone in the others (NAT, FULLNAT), each translated (NAT64, nat64frag.go), each in the
// tunnel (TUN, fragmented again when an IPv4 packet without DF does not fit it), as they are (DR). Tables, pool and timeout are bounded
// and every outcome counted (frag_*). docs/fragments.md is the operator's view.
package dataplane
