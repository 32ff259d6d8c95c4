// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs traffic reflector: sends every IPv4 UDP frame back where it came
 * from as the other end's answer (MACs, addresses and ports swapped, the TTL
 * set back to 64) with XDP_TX, and counts it (per CPU: counts[0]). Swapping
 * changes neither checksum; the TTL's change is folded into the header's.
 *
 * With one reflector on each side of a forwarder (the client's veth and the
 * real servers'), a few datagrams sent once circulate through it, one way
 * and back, as fast as the whole loop runs: a closed-loop load that no
 * generator's rate limits (bench/loop_linux_test.go). The loop is bounded:
 * once a CPU has reflected limit frames, or when limit is 0, the reflector
 * drops what it receives (counts[1]) and the frames are gone. Everything
 * else passes.
 */
#include "common.h"

struct ipv4_hdr {
	__u8 vihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} counts SEC(".maps");

/* Frames each CPU may reflect; set by the Go side (0: drop everything). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} limit SEC(".maps");

SEC("xdp")
int xdpvs_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *eth = data;
	struct ipv4_hdr *ip = data + ETH_HLEN;
	__be16 *ports = (void *)(ip + 1);
	__u32 zero = 0, one = 1;

	if ((void *)(ports + 2) > end)
		return XDP_PASS;
	if (*(__be16 *)(eth + 12) != bpf_htons(ETH_P_IP) || ip->vihl != 0x45 || ip->proto != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS; /* fragments too: a later one carries no ports */
	__u64 *lim = bpf_map_lookup_elem(&limit, &zero);
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);
	if (!lim || !n)
		return XDP_PASS;
	if (*n >= *lim) {
		__u64 *dropped = bpf_map_lookup_elem(&counts, &one);
		if (dropped)
			*dropped += 1;
		return XDP_DROP;
	}
	*n += 1;
	__u8 mac[6];
	__builtin_memcpy(mac, eth, 6);
	__builtin_memcpy(eth, eth + 6, 6);
	__builtin_memcpy(eth + 6, mac, 6);
	__be32 a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	__be16 p = ports[0];
	ports[0] = ports[1];
	ports[1] = p;
	/* RFC 1624: the TTL is the high byte of its header word. */
	__u32 s = (__u16)~bpf_ntohs(ip->check);
	s += (__u16)~((__u16)ip->ttl << 8);
	s += (__u16)(64 << 8);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	ip->check = bpf_htons((__u16)~s);
	ip->ttl = 64;
	return XDP_TX;
}

char __license[] SEC("license") = "Dual BSD/GPL";
