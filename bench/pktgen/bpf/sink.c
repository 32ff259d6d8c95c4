// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs traffic sink: counts and drops every IPv4 or IPv6 UDP frame, and
 * every TCP frame when settings.drop_tcp is set (counters[0]); passes and
 * counts everything else (counters[1]), so ARP, ND, ping and (by default)
 * TCP keep working on the interface. Counters are per CPU: the CPU that ran
 * the program is where the receive work happened.
 *
 * A dropped frame whose payload starts with the generator's stamp (magic,
 * flow, bpf_ktime_get_ns() at generation) adds its one-way latency to a
 * per-CPU histogram (log-linear: 16 sub-buckets per power of two, ~6 %
 * resolution) and to per-CPU count, sum, min and max. Generator and sink run
 * on one kernel, so they share the clock.
 */
#include "common.h"

#define STAMP_MAGIC 0x58565047 /* "XVPG" */
#define LAT_BUCKETS 1024

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct lat_summary {
	__u64 count;
	__u64 sum;
	__u64 min;
	__u64 max;
};

struct settings {
	__u32 drop_tcp;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, 2);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LAT_BUCKETS);
} lat_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lat_summary);
	__uint(max_entries, 1);
} lat_sum SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct settings);
	__uint(max_entries, 1);
} config SEC(".maps");

struct ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

/* bucket: values under 16 ns have their own bucket; above, the top 5 bits
 * (msb and 4 below it) pick it: (msb-3)*16 + next 4 bits. */
static __always_inline __u32 bucket(__u64 v)
{
	if (v < 16)
		return v;
	__u32 msb = 0;
	__u64 x = v;
	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	__u32 sub = (v >> (msb - 4)) & 15;
	return (msb - 3) * 16 + sub;
}

static __always_inline void latency(struct xdp_md *ctx, __u32 off)
{
	__u32 p[4];
	if (off > 1500 || bpf_xdp_load_bytes(ctx, off, p, sizeof(p)))
		return;
	if (p[0] != bpf_htonl(STAMP_MAGIC))
		return;
	__u64 ts = ((__u64)bpf_ntohl(p[2]) << 32) | bpf_ntohl(p[3]);
	__u64 now = bpf_ktime_get_ns();
	__u64 d = now > ts ? now - ts : 0;
	__u32 b = bucket(d);
	if (b >= LAT_BUCKETS)
		b = LAT_BUCKETS - 1;
	__u64 *h = bpf_map_lookup_elem(&lat_hist, &b);
	if (h)
		(*h)++;
	__u32 zero = 0;
	struct lat_summary *s = bpf_map_lookup_elem(&lat_sum, &zero);
	if (s) {
		if (s->count == 0 || d < s->min)
			s->min = d;
		if (d > s->max)
			s->max = d;
		s->count++;
		s->sum += d;
	}
}

/* classify returns 0 for a frame to count and drop, 1 for one to pass. */
static __always_inline int classify(struct xdp_md *ctx, void *data, void *data_end, int drop_tcp)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	__u8 *l3 = (void *)(eth + 1);
	__u8 proto;
	__u8 *l4;
	if (eth->proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(l3 + 20) > data_end)
			return 1;
		proto = l3[9];
		l4 = l3 + (l3[0] & 15) * 4;
	} else if (eth->proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(l3 + 40) > data_end)
			return 1;
		proto = l3[6];
		l4 = l3 + 40;
	} else {
		return 1;
	}
	if (proto == IPPROTO_UDP) {
		latency(ctx, l4 + 8 - (__u8 *)data);
		return 0;
	}
	if (proto == IPPROTO_TCP && drop_tcp) {
		if ((void *)(l4 + 20) <= data_end)
			latency(ctx, l4 + ((l4[12] >> 4) & 15) * 4 - (__u8 *)data);
		return 0;
	}
	return 1;
}

SEC("xdp")
int xdpvs_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct settings *set = bpf_map_lookup_elem(&config, &zero);
	int drop_tcp = set && set->drop_tcp;
	__u32 key = classify(ctx, data, data_end, drop_tcp);
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	return key == 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
