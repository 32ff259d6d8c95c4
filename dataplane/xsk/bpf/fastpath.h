/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdpvs fast path: established flows forwarded by the steering program
 * itself, from the rewrite record the owning worker installed.
 *
 * The workers are the authority. A worker installs a record (fast_rec) keyed
 * by the tuple of one direction of a connection, as that direction's packets
 * arrive (fast_key4 in fast_flows4, flow_key in fast_flows6), once the
 * connection needs no more judgement: TCP ESTABLISHED (FULLNAT: once TOA
 * went out), UDP assured (DR, TUN: once seen). It removes the record first
 * whenever it removes, expires or re-schedules the connection, and whenever
 * its configuration or a next hop changes.
 *
 * For a packet that hits a record the program does what the worker would:
 *
 *   FAST_NAT   (NAT, FULLNAT) new addresses and ports, the L4 checksum and the
 *              IPv4 header checksum updated by the deltas the worker computed
 *              (RFC 1624: the deltas of every changed field, summed);
 *   FAST_DR    nothing but the MACs;
 *   FAST_TUN   an outer IPv4 (IPIP) or IPv6 (IPv6-in-IPv6) header in front,
 *              as dataplane/tunnel.go encapsulates;
 *
 * then the MACs, and bpf_redirect_map to the egress interface's entry in
 * fast_ports (the ingress interface too: see fast_redirect). The record's
 * stats slot gets the packet and its IP length (one atomic add) and the time
 * (in jiffies, which the worker maps to its clock: xsk.JiffyClock), which the
 * worker folds into its counters and the connection's expiry.
 *
 * A frame is looked up straight from its bytes, before steer.c parses it
 * (fast_forward4, fast_forward6): no struct l3 to fill, and for IPv4 a
 * 16-byte key, not the 40 of an IPv6 one; NAT and DR then run straight
 * through (fast_rewrite). Together that took a fifth off an IPv4 hot hit,
 * an eighth off an IPv6 one (bench/results/fastpath.md).
 *
 * Everything else goes on to the workers, untouched: TCP segments with SYN,
 * FIN or RST (state changes), a packet too big for its tunnel (the worker
 * answers it with an ICMP error), IPv4 with options, IPv6 with extension
 * headers, a UDPv6 datagram without checksum, anything whose lengths do not
 * add up (the worker counts it), and every miss. Fragments are never looked
 * up (fast_forward4 checks the offset and MF; an IPv6 fragment header is an
 * extension header), nor are VLAN-tagged frames (steer.c) or ICMP.
 */
#pragma once

enum fast_kind {
	FAST_NAT = 1,
	FAST_DR = 2,
	FAST_TUN = 3,
};

/* A connection's rewrite for one direction. Addresses and ports in network
 * byte order, IPv4 addresses in the first 4 bytes. */
struct fast_rec {
	__u8 kind;        /* enum fast_kind */
	__u8 pad0;
	__u16 port;       /* the egress port: its key in fast_ports */
	__u32 ifindex;    /* the egress interface (= ingress: counted as fast_tx) */
	__u32 slot;       /* in fast_stats */
	__u16 l4_delta;   /* FAST_NAT: to add to the complemented L4 checksum */
	__u16 ip_delta;   /* FAST_NAT, IPv4: to add to the complemented header checksum */
	__u16 mtu;        /* FAST_TUN: the largest inner IP packet */
	__be16 sport;     /* FAST_NAT: new ports */
	__be16 dport;
	__u8 dst_mac[6];
	__u8 src_mac[6];
	__u8 pad1[2];
	__u8 saddr[16];   /* FAST_NAT: new addresses; FAST_TUN: the outer ones */
	__u8 daddr[16];
};

/* Packets and bytes of one direction of a connection, in one word (packets
 * << FAST_BYTE_BITS | bytes: one atomic add a packet), and when the last one
 * went (jiffies); the owning worker reads and resets them through the map's
 * memory. */
#define FAST_BYTE_BITS 36
struct fast_stat {
	__u64 count;
	__u64 last;
};

/* An IPv4 direction's tuple, laid out as the frame has it (addresses, then
 * ports), so that it is copied in a few loads. Ports in network byte order. */
struct fast_key4 {
	__u8 saddr[4];
	__u8 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* Sized by the Go side (both directions of every connection of the
 * workers' tables), each; set to 1 entry when the fast path is off. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct fast_key4);
	__type(value, struct fast_rec);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fast_flows4 SEC(".maps");

/* IPv6: flow_key, family FAMILY_V6. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct fast_rec);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fast_flows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fast_stat);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_MMAPABLE);
} fast_stats SEC(".maps");

/* The dataplane's ports by position, for bpf_redirect_map. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} fast_ports SEC(".maps");

/* Set by the Go side before loading: 0 turns the fast path off (no lookup). */
volatile const __u8 fast_path_on = 0;

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* csum_add_delta: the checksum field c (network order) after adding delta
 * (host order) to its complement: RFC 1624 eqn. 3 over all fields at once. */
static __always_inline __sum16 csum_add_delta(__sum16 c, __u16 delta)
{
	__u32 s = (__u16)~bpf_ntohs(c);
	s += delta;
	return bpf_htons((__u16)~csum_fold32(s));
}

/* What the checks found out about the packet. */
struct fast_pkt {
	void *l3;
	void *l4;
	__u32 l3len; /* the IP packet's length (without link padding) */
	__u8 family;
	__u8 proto;
};

/* fast_check_l4 validates the transport header (the worker's parser would
 * accept it) given the segment's length seg; 0: leave it to the workers. */
static __always_inline int fast_check_l4(void *end, __u8 family, __u8 proto, __u8 *l4, __u32 seg)
{
	if (proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end || seg < 20)
			return 0;
		__u32 doff = (l4[12] >> 4) * 4;
		if (doff < 20 || doff > seg)
			return 0;
		if (l4[13] & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))
			return 0; /* state changes: the worker's */
		return 1;
	}
	if ((void *)(l4 + 8) > end || seg < 8)
		return 0;
	__u32 ulen = ((__u32)l4[4] << 8) | l4[5];
	if (ulen < 8 || ulen > seg)
		return 0;
	if (family == FAMILY_V6 && l4[6] == 0 && l4[7] == 0)
		return 0; /* no checksum: the worker drops it */
	return 1;
}

/* fast_nat_l4 puts the record's ports in the transport header at l4 and
 * updates its checksum; 0: the header is not all there. */
static __always_inline int fast_nat_l4(void *end, __u8 proto, __u8 *l4, const struct fast_rec *r)
{
	struct ports *pp = (void *)l4;
	if ((void *)(l4 + 8) > end)
		return 0;
	pp->src = r->sport;
	pp->dst = r->dport;
	if (proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return 0;
		__sum16 *c = (void *)(l4 + 16);
		*c = csum_add_delta(*c, r->l4_delta);
	} else {
		__sum16 *c = (void *)(l4 + 6);
		if (*c != 0) { /* IPv4 without checksum stays without */
			__sum16 n = csum_add_delta(*c, r->l4_delta);
			*c = n ? n : 0xffff;
		}
	}
	return 1;
}

/* fast_send finishes a forwarded frame (its Ethernet header at eth): the
 * record's MACs, the packet counted in its stats slot; the XDP action. */
static __always_inline int fast_send(struct xdp_md *ctx, struct eth_hdr *eth, const struct fast_rec *r, __u32 l3len, __u32 *why)
{
	__builtin_memcpy(eth->dst, r->dst_mac, 6);
	__builtin_memcpy(eth->src, r->src_mac, 6);
	__u32 slot = r->slot;
	struct fast_stat *st = bpf_map_lookup_elem(&fast_stats, &slot);
	if (st) {
		__sync_fetch_and_add(&st->count, ((__u64)1 << FAST_BYTE_BITS) | l3len);
		st->last = bpf_jiffies64(); /* inlined: one load (a helper call cost 20-25 ns) */
	}
	*why = r->ifindex == ctx->ingress_ifindex ? STAT_FAST_TX : STAT_FAST_REDIRECT;
	return XDP_REDIRECT;
}

/* fast_redirect sets the packet's way out: the egress port's entry in
 * fast_ports. Back out of the ingress interface too through the devmap, not
 * XDP_TX: a veth flushes XDP_TX frames to its peer only if the peer runs an
 * XDP program (veth_xdp_flush), and would hold them until other traffic
 * came; a redirect's ndo_xdp_xmit always flushes. */
static __always_inline int fast_redirect(const struct fast_rec *r, __u32 *why)
{
	if (bpf_redirect_map(&fast_ports, r->port, 0) != XDP_REDIRECT) {
		*why = STAT_FAST_NO_PORT;
		return 0;
	}
	return 1;
}

/* fast_tun puts the packet in the record's tunnel: an outer header in
 * front, link padding cut. */
static __always_inline int fast_tun(struct xdp_md *ctx, const struct fast_rec *r, struct fast_pkt *fp)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 l3len = fp->l3len;
	__u32 pad = (__u32)(end - fp->l3) - l3len;
	__u8 tos = 0;
	__be16 df = 0;
	if (fp->family == FAMILY_V4) {
		struct ipv4_hdr *ip = fp->l3;
		if ((void *)(ip + 1) > end)
			return 0;
		tos = ip->tos;
		df = ip->frag_off & bpf_htons(0x4000);
	} else {
		__u8 *b = fp->l3;
		if ((void *)(b + 2) > end)
			return 0;
		tos = (b[0] << 4) | (b[1] >> 4); /* traffic class */
	}
	if (pad && bpf_xdp_adjust_tail(ctx, -(int)pad))
		return 0;
	int hdr = fp->family == FAMILY_V4 ? sizeof(struct ipv4_hdr) : sizeof(struct ipv6_hdr);
	if (bpf_xdp_adjust_head(ctx, -hdr))
		return 0;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > end)
		return 0;
	if (fp->family == FAMILY_V4) {
		struct ipv4_hdr *o = (void *)(eth + 1);
		if ((void *)(o + 1) > end)
			return 0;
		eth->proto = bpf_htons(ETH_P_IP);
		o->vihl = 0x45;
		o->tos = tos;
		o->tot_len = bpf_htons(l3len + sizeof(*o));
		o->id = 0;
		o->frag_off = df;
		o->ttl = 64;
		o->proto = 4; /* IPIP */
		o->check = 0;
		__builtin_memcpy(o->saddr, r->saddr, 4);
		__builtin_memcpy(o->daddr, r->daddr, 4);
		__u16 *w = (void *)o;
		__u32 s = 0;
#pragma unroll
		for (int i = 0; i < 10; i++)
			s += bpf_ntohs(w[i]);
		o->check = bpf_htons((__u16)~csum_fold32(s));
	} else {
		struct ipv6_hdr *o = (void *)(eth + 1);
		if ((void *)(o + 1) > end)
			return 0;
		eth->proto = bpf_htons(ETH_P_IPV6);
		o->vtcfl = bpf_htonl((6u << 28) | ((__u32)tos << 20));
		o->payload_len = bpf_htons(l3len);
		o->nexthdr = 41; /* IPv6 */
		o->hop_limit = 64;
		__builtin_memcpy(o->saddr, r->saddr, 16);
		__builtin_memcpy(o->daddr, r->daddr, 16);
	}
	return 1;
}

/* fast_tunnel forwards a checked packet (fp) by its connection's tunnel
 * record r: the XDP action, or -1 to leave it (untouched) to the workers;
 * *why is the STAT_FAST_* to count. */
static __always_inline int fast_tunnel(struct xdp_md *ctx, const struct fast_rec *r, struct fast_pkt *fp, __u32 *why)
{
	if (fp->l3len > r->mtu) {
		*why = STAT_FAST_TOO_BIG;
		return -1;
	}
	if (!fast_redirect(r, why))
		return -1;
	if (!fast_tun(ctx, r, fp))
		goto aborted;
	struct eth_hdr *eth = (void *)(long)ctx->data; /* moved by adjust_head */
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		goto aborted;
	return fast_send(ctx, eth, r, fp->l3len, why);
aborted:
	/* Cannot happen once the checks passed (and a tunnel's adjust_head
	 * failing would leave a half-built frame): drop, counted. */
	*why = STAT_FAST_ABORTED;
	return XDP_DROP;
}

/* fast_rewrite forwards a checked packet (fp, its headers bounds-checked by
 * the caller) by its connection's record r, as fast_tunnel. NAT and DR run
 * straight through, the tunnels aside: that took about a tenth off a hot hit
 * against one switch over the three kinds. */
static __always_inline int fast_rewrite(struct xdp_md *ctx, const struct fast_rec *r, struct fast_pkt *fp, __u32 *why)
{
	void *end = (void *)(long)ctx->data_end;
	if (r->kind == FAST_TUN)
		return fast_tunnel(ctx, r, fp, why);
	if (r->kind != FAST_NAT && r->kind != FAST_DR) {
		*why = STAT_FAST_ABORTED;
		return XDP_DROP;
	}
	if (!fast_redirect(r, why))
		return -1;
	if (r->kind == FAST_NAT) {
		if (fp->family == FAMILY_V4) {
			struct ipv4_hdr *ip = fp->l3;
			__builtin_memcpy(ip->saddr, r->saddr, 4);
			__builtin_memcpy(ip->daddr, r->daddr, 4);
			ip->check = csum_add_delta(ip->check, r->ip_delta);
		} else {
			struct ipv6_hdr *ip6 = fp->l3;
			__builtin_memcpy(ip6->saddr, r->saddr, 16);
			__builtin_memcpy(ip6->daddr, r->daddr, 16);
		}
		if (!fast_nat_l4(end, fp->proto, fp->l4, r)) {
			*why = STAT_FAST_ABORTED;
			return XDP_DROP;
		}
	}
	return fast_send(ctx, fp->l3 - sizeof(struct eth_hdr), r, fp->l3len, why);
}

/* fast_forward4 forwards an IPv4 frame of an established connection, looked
 * up straight from the frame's bytes: IPv4 without options (options,
 * fragments: the workers'), TCP or UDP. It returns the XDP action, or -1 to
 * go on with the steering (*why nonzero: a record's packet the worker must
 * see). */
static __always_inline int fast_forward4(struct xdp_md *ctx, __u32 *why)
{
	void *end = (void *)(long)ctx->data_end;
	struct ipv4_hdr *ip = (void *)(long)ctx->data + sizeof(struct eth_hdr);
	__u8 *l4 = (void *)(ip + 1);
	struct ports *pp = (void *)l4;
	struct fast_key4 k;
	struct fast_pkt fp;

	*why = 0;
	if (!fast_path_on)
		return -1;
	if ((void *)(l4 + 8) > end)
		return -1;
	if (ip->vihl != 0x45 || (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	if (ip->proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return -1; /* truncated: steer.c counts it */
	} else if (ip->proto != IPPROTO_UDP) {
		return -1;
	}
	__builtin_memcpy(&k, ip->saddr, 8); /* saddr, daddr */
	k.sport = pp->src;
	k.dport = pp->dst;
	k.proto = ip->proto;
	k.pad[0] = k.pad[1] = k.pad[2] = 0;
	struct fast_rec *r = bpf_map_lookup_elem(&fast_flows4, &k);
	if (!r)
		return -1;
	__u32 l3len = bpf_ntohs(ip->tot_len);
	if (l3len < sizeof(*ip) || (void *)ip + l3len > end ||
	    !fast_check_l4(end, FAMILY_V4, ip->proto, l4, l3len - sizeof(*ip))) {
		*why = STAT_FAST_TO_WORKER;
		return -1;
	}
	fp.l3 = ip;
	fp.l4 = l4;
	fp.l3len = l3len;
	fp.family = FAMILY_V4;
	fp.proto = ip->proto;
	return fast_rewrite(ctx, r, &fp, why);
}

/* fast_forward6 is fast_forward4 for IPv6 without extension headers (with
 * them: the workers'). */
static __always_inline int fast_forward6(struct xdp_md *ctx, __u32 *why)
{
	void *end = (void *)(long)ctx->data_end;
	struct ipv6_hdr *ip6 = (void *)(long)ctx->data + sizeof(struct eth_hdr);
	__u8 *l4 = (void *)(ip6 + 1);
	struct ports *pp = (void *)l4;
	struct flow_key k;
	struct fast_pkt fp;

	*why = 0;
	if (!fast_path_on)
		return -1;
	if ((void *)(l4 + 8) > end)
		return -1;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return -1;
	if (ip6->nexthdr == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return -1;
	} else if (ip6->nexthdr != IPPROTO_UDP) {
		return -1;
	}
	k.family = FAMILY_V6;
	k.proto = ip6->nexthdr;
	k.sport = pp->src;
	k.dport = pp->dst;
	k.pad[0] = k.pad[1] = 0;
	__builtin_memcpy(k.saddr, ip6->saddr, 16);
	__builtin_memcpy(k.daddr, ip6->daddr, 16);
	struct fast_rec *r = bpf_map_lookup_elem(&fast_flows6, &k);
	if (!r)
		return -1;
	__u32 seg = bpf_ntohs(ip6->payload_len);
	if ((void *)l4 + seg > end || !fast_check_l4(end, FAMILY_V6, ip6->nexthdr, l4, seg)) {
		*why = STAT_FAST_TO_WORKER;
		return -1;
	}
	fp.l3 = ip6;
	fp.l4 = l4;
	fp.l3len = sizeof(*ip6) + seg;
	fp.family = FAMILY_V6;
	fp.proto = ip6->nexthdr;
	return fast_rewrite(ctx, r, &fp, why);
}
