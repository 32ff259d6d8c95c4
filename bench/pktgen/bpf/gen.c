// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs packet generator: run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES
 * on a veth (or any interface with ndo_xdp_xmit), it writes one UDP or TCP
 * frame per call and returns XDP_TX, which sends it out of the ingress
 * interface.
 *
 * Live frames are recycled from a page pool and may come back with anything
 * in them (a NAT downstream rewrites headers in place), so every call copies
 * the whole frame from the template in `config`, then writes what varies:
 *
 *   - the flow: source port sport_min + p (p = 0 .. ports-1, fastest) and
 *     source address template + a (a = 0 .. addrs-1, added to the address's
 *     last 32 bits), round robin over ports * addrs flows;
 *   - for TCP, the sequence number (the frame counter);
 *   - when the payload has room (stamp_off != 0), a stamp: the flow number
 *     and bpf_ktime_get_ns() after the magic the template carries, which the
 *     sink turns into a latency.
 *
 * The IPv4 header checksum and the L4 checksum (TCP always, UDP over IPv6;
 * IPv4 UDP carries none) are updated incrementally (RFC 1624) from the
 * template's, word by word: every field written sits at an even offset from
 * the start of its checksummed header.
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
	__u64 limit;      /* frames to send in this run */
	__u32 len;        /* frame length (no FCS) */
	__u32 ports;      /* source ports sport_min .. sport_min+ports-1 */
	__u32 addrs;      /* source addresses: the template's + 0 .. addrs-1 */
	__u32 addr_lo;    /* last 32 bits of the template's source address, host order */
	__u16 sport_min;  /* host byte order */
	__u16 l4_off;     /* offset of the L4 header: 34 (IPv4) or 54 (IPv6) */
	__u16 l4_csum;    /* template L4 checksum, as on the wire */
	__u16 ip_csum;    /* template IPv4 header checksum, as on the wire */
	__u16 stamp_off;  /* offset of the payload stamp (magic, flow, time); 0 = no room */
	__u8 tcp;         /* 1: TCP (sequence number = frame counter), 0: UDP */
	__u8 has_csum;    /* 1: the L4 checksum is set (TCP, IPv6 UDP); 0: IPv4 UDP without one */
	__u16 pad;
	__u8 frame[MAX_FRAME + 2];
};

struct gen_state {
	__u64 sent;    /* frames returned with XDP_TX */
	__u64 dropped; /* calls past the limit, returned with XDP_DROP */
	__u64 errors;  /* frame of the wrong length, or a failed store */
	__u32 port;    /* next flow's port index, 0 .. ports-1 */
	__u32 addr;    /* next flow's address index, 0 .. addrs-1 */
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

/* add accumulates ~old + new for one 16-bit word (RFC 1624 eqn. 3). */
static __always_inline __u32 add(__u32 sum, __u16 old, __u16 new)
{
	return sum + (__u16)~old + new;
}

static __always_inline __u16 fold(__u16 check, __u32 sum)
{
	sum += (__u16)~check;
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

	/* Constant offsets for the verifier: IPv4 or IPv6. */
	__u8 *l4, *saddr;
	if (cfg->l4_off == 34) {
		l4 = data + 34;
		saddr = data + 26;
	} else {
		l4 = data + 54;
		saddr = data + 34;
	}
	if ((void *)(l4 + 8) > data_end || (cfg->tcp && (void *)(l4 + 20) > data_end)) {
		st->errors++;
		return XDP_ABORTED;
	}

	/* The flow: port index fastest, then address index. */
	__u32 pidx = st->port, aidx = st->addr;
	__u32 flow = aidx * cfg->ports + pidx;
	__u32 p = pidx + 1, a = aidx;
	if (p >= cfg->ports) {
		p = 0;
		if (++a >= cfg->addrs)
			a = 0;
	}
	st->port = p;
	st->addr = a;

	__u32 l4sum = 0, ipsum = 0;
	__u16 *w;

	/* Source port: the template has sport_min. */
	__u16 sport = bpf_htons((__u16)(cfg->sport_min + pidx));
	w = (__u16 *)l4;
	l4sum = add(l4sum, w[0], sport);
	w[0] = sport;

	/* Source address: template's last 32 bits + address index. */
	if (aidx) {
		__u32 na = bpf_htonl(cfg->addr_lo + aidx);
		__u16 *o = (__u16 *)saddr;
		__u16 *n = (__u16 *)&na;
		l4sum = add(l4sum, o[0], n[0]);
		l4sum = add(l4sum, o[1], n[1]);
		ipsum = add(ipsum, o[0], n[0]);
		ipsum = add(ipsum, o[1], n[1]);
		o[0] = n[0];
		o[1] = n[1];
	}

	/* TCP sequence number. */
	if (cfg->tcp) {
		if ((void *)(l4 + 20) > data_end)
			return XDP_ABORTED;
		__u32 seq = bpf_htonl((__u32)st->sent);
		__u16 *o = (__u16 *)(l4 + 4);
		__u16 *n = (__u16 *)&seq;
		l4sum = add(l4sum, o[0], n[0]);
		l4sum = add(l4sum, o[1], n[1]);
		o[0] = n[0];
		o[1] = n[1];
	}

	/* Payload stamp: the template's flow and time are 0, so each word's old
	 * value is 0 (~0 = 0xffff) in the checksum update. */
	__u32 so = cfg->stamp_off;
	if (so) {
		__u32 buf[3];
		__u64 now = bpf_ktime_get_ns();
		buf[0] = bpf_htonl(flow);
		buf[1] = bpf_htonl((__u32)(now >> 32));
		buf[2] = bpf_htonl((__u32)now);
		__u16 *nw = (__u16 *)buf;
#pragma unroll
		for (int i = 0; i < 6; i++)
			l4sum = add(l4sum, 0, nw[i]);
		if (bpf_xdp_store_bytes(ctx, so + 4, buf, sizeof(buf))) {
			st->errors++;
			return XDP_ABORTED;
		}
	}

	if (cfg->has_csum) {
		__u16 c = fold(cfg->l4_csum, l4sum);
		if (!cfg->tcp && !c)
			c = 0xffff; /* UDP: 0 means no checksum */
		if (cfg->tcp) {
			if ((void *)(l4 + 20) > data_end)
				return XDP_ABORTED;
			*(__u16 *)(l4 + 16) = c;
		} else
			*(__u16 *)(l4 + 6) = c;
	}
	if (cfg->l4_off == 34 && aidx)
		*(__u16 *)(data + 24) = fold(cfg->ip_csum, ipsum);

	st->sent++;
	return XDP_TX;
}

char _license[] SEC("license") = "Dual BSD/GPL";
