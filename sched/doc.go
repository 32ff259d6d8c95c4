// Package sched holds the schedulers that choose a real server for a new connection, behind one
// Scheduler interface and a registry of names, as IPVS's ip_vs_sched.c does.
//
// A Factory builds a service's Table from its immutable list of destinations once per configuration
// change, off the fast path: the lookup tables, which every worker shares. Table.Instance gives
// each worker its Scheduler, cheaply (the same value for every worker, but for lblc, lblcr and twos,
// which keep mutable state of their own), called per new connection without locks or allocation.
// Schedule returns an index into that list, or -1 when no destination can take the connection
// (all quiescent or overloaded, or, for dh, sh and mh without fallback, the hashed one is).
//
// The schedulers, under their IPVS names, each following the kernel module's algorithm (see the type
// comments for the details and the few deliberate differences):
//
//	rr     round robin                              ip_vs_rr.c
//	wrr    weighted round robin                     ip_vs_wrr.c
//	lc     least connection                         ip_vs_lc.c
//	wlc    weighted least connection                ip_vs_wlc.c
//	sed    shortest expected delay                  ip_vs_sed.c
//	nq     never queue                              ip_vs_nq.c
//	lblc   locality-based least connection          ip_vs_lblc.c
//	lblcr  lblc with replication                    ip_vs_lblcr.c
//	dh     destination address hashing              ip_vs_dh.c
//	sh     source address (and port) hashing        ip_vs_sh.c
//	mh     Maglev hashing                           ip_vs_mh.c
//	fo     weighted failover                        ip_vs_fo.c
//	ovf    overflow                                 ip_vs_ovf.c
//	twos   power of two (weighted random) choices   ip_vs_twos.c
//
// Every scheduler skips a destination of weight 0 (quiescent) or marked Overloaded (above its upper
// threshold). rr and wrr rotate through a position shared by the instances of every worker, so the
// director as a whole follows the kernel's sequence. The connection counts that lc, wlc, sed, nq,
// ovf, twos, lblc and lblcr compare are those of the calling worker (each worker counts its own
// connections), where the kernel reads global counters: with RSS spreading flows evenly over the
// workers they are a scaled sample of the global counts, an accepted approximation. Likewise the
// lblc and lblcr tables, which remember a server per destination address, are per worker. dh, sh and
// mh build their lookup tables from the configuration alone, so every worker (and every director
// with the same configuration) makes the same choice for the same tuple.
//
// Config.Flags carries the service's scheduler flags: FlagFallback (sh-fallback, mh-fallback) and
// FlagPort (sh-port, mh-port). Config.Now is the clock of lblc and lblcr. Dest.Addr and Dest.Port
// place a server in mh's table.
package sched
