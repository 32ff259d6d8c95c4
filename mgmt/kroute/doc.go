// Package kroute writes the director's routes into the kernel over netlink, for two uses of the
// announcement policy (mgmt/announce):
//
//	Exporter  --export-table N: the announced prefixes as blackhole routes in routing table N
//	          (protocol Proto), which a routing daemon beside xdpvsd (BIRD, FRR) learns and
//	          redistributes into OSPF or BGP; the table is never used for forwarding
//	Guard     --routed: a blackhole route in the main table for every VIP and local address,
//	          installed when the service appears and left behind when the daemon stops or dies,
//	          so that traffic that still reaches a dead director is dropped without an answer
//	          (the VIP is not an interface address: no RST, and no forwarding back out)
//
// Both own only routes of protocol Proto in their table, and leave every other route alone.
// They act on the calling process's network namespace. This package reaches x/sys/unix through
// netlink: archtest allows it, as it does mgmt/bgp.
package kroute
