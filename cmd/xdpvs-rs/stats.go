package main

// statNames are the program's counters in the order of enum stat in bpf/rs.c, as `xdpvs-rs stats`
// prints them. Each counter is per CPU in the kernel and summed here.
var statNames = []string{
	"packets",              // every packet seen
	"decap_ipip",           // IPv4-in-IPv4 to a VIP from a director, decapsulated
	"decap_ip6ip6",         // IPv6-in-IPv6 to a VIP from a director, decapsulated
	"decap_gue",            // GUE (--gue-port; IPv4 or IPv6) to a VIP from a director, decapsulated
	"passed",               // not a tunnel packet: passed unchanged
	"passed_not_vip",       // tunnel packet whose inner destination is no VIP: passed unchanged
	"passed_fragment",      // outer IPv4 fragment: passed unchanged
	"passed_unsupported",   // 4-in-6, 6-in-4, GUE with options or of the other family: passed unchanged
	"malformed",            // truncated or inconsistent tunnel headers: passed unchanged
	"decap_error",          // bpf_skb_adjust_room failed: passed encapsulated
	"dropped_not_director", // tunnel packet to a VIP whose outer source is no --director: dropped
	"toa_recorded",         // TOA option recorded
	"toa_bad_length",       // option 254 with a length other than 8 or 20
	"toa_update_error",     // TOA map update failed
	"toa_syn_cleared",      // a SYN deleted its tuple's old TOA entry
}
