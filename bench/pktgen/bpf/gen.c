// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs packet generator: run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES
 * on a veth (or any interface with ndo_xdp_xmit), it writes one UDP frame per
 * call and returns XDP_TX, which sends it out of the ingress interface.
 *
 * Live frames are recycled from a page pool and may come back with anything
 * in them (a NAT downstream rewrites headers in place), so every call copies
 * the whole frame from the template in `config`, then sets the UDP source port
 * of the next flow (round robin over `flows` ports from `sport_min`) and, when
 * the template has a UDP checksum (IPv6), updates it incrementally (RFC 1624).
 * The IPv4 header does not change between frames, so its checksum is the
 * template's.
 *
 * `state.sent` counts frames returned with XDP_TX; once it reaches
 * `config.limit` the program returns XDP_DROP (the frame goes back to the
 * pool unsent), so a run that the kernel restarts after a signal cannot send
 * more than asked. Only one generator run uses the maps at a time, so the
 * state is a plain (shared) array entry updated without atomics.
 */
#include "common.h"

#define MAX_FRAME 1514 /* 1518-byte Ethernet frame without its FCS */

/* Keep in sync with pktgen_linux.go. */
struct gen_config {
	__u64 limit;     /* frames to send in this run */
	__u32 len;       /* frame length (no FCS) */
	__u32 flows;     /* source ports sport_min .. sport_min+flows-1 */
	__u16 sport_min; /* host byte order */
	__u16 udp_off;   /* offset of the UDP header: 34 (IPv4) or 54 (IPv6) */
	__u16 udp_csum;  /* template UDP checksum, as on the wire; 0 = none */
	__u16 pad;
	__u8 frame[MAX_FRAME + 2];
};

struct gen_state {
	__u64 sent;    /* frames returned with XDP_TX */
	__u64 dropped; /* calls past the limit, returned with XDP_DROP */
	__u64 errors;  /* frame of the wrong length, or a failed store */
	__u32 flow;    /* next flow, 0 .. flows-1 */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_config);
	__uint(max_entries, 1);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_state);
	__uint(max_entries, 1);
} state SEC(".maps");

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
	__u32 sum = (__u16)~check + (__u16)~old + (__u32) new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int xdpvs_pktgen(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct gen_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&state, &zero);
	if (!cfg || !st)
		return XDP_ABORTED;
	if (st->sent >= cfg->limit) {
		st->dropped++;
		return XDP_DROP;
	}

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = cfg->len;
	if (len < ETH_HLEN || len > MAX_FRAME || data + len != data_end) {
		st->errors++;
		return XDP_ABORTED;
	}
	if (bpf_xdp_store_bytes(ctx, 0, cfg->frame, len)) {
		st->errors++;
		return XDP_ABORTED;
	}

	struct udphdr *udp;
	if (cfg->udp_off == 34)
		udp = data + 34;
	else
		udp = data + 54;
	if ((void *)(udp + 1) > data_end) {
		st->errors++;
		return XDP_ABORTED;
	}

	__u32 flow = st->flow;
	__u16 sport = bpf_htons((__u16)(cfg->sport_min + flow));
	if (++flow >= cfg->flows)
		flow = 0;
	st->flow = flow;

	udp->source = sport;
	if (cfg->udp_csum) {
		__u16 c = csum_replace2(cfg->udp_csum, bpf_htons(cfg->sport_min), sport);
		udp->check = c ? c : 0xffff;
	}
	st->sent++;
	return XDP_TX;
}

char _license[] SEC("license") = "Dual BSD/GPL";
