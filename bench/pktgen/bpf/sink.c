// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs traffic sink: counts and drops every IPv4 or IPv6 UDP frame
 * (counters[0]); passes and counts everything else (counters[1]), so ARP, ND
 * and ping keep working on the interface. Counters are per CPU: the CPU that
 * ran the program is where the receive work happened.
 */
#include "common.h"

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 2);
} counters SEC(".maps");

struct ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

static __always_inline int is_udp(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 0;
	__u8 *l3 = (void *)(eth + 1);
	if (eth->proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(l3 + 20) > data_end)
			return 0;
		return l3[9] == IPPROTO_UDP;
	}
	if (eth->proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(l3 + 40) > data_end)
			return 0;
		return l3[6] == IPPROTO_UDP;
	}
	return 0;
}

SEC("xdp")
int xdpvs_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = is_udp(data, data_end) ? 0 : 1;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	return key == 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
