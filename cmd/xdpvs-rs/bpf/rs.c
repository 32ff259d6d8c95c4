// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs-rs: the real-server program, attached to tc ingress (tcx) of the
 * interfaces that receive traffic from an xdpvs director.
 *
 * 1. TUN decapsulation, so that real servers need no ipip/ip6_tunnel module:
 *    an IPv4 packet with protocol 4 (IPIP) whose inner IPv4 destination is a
 *    VIP, or an IPv6 packet with next header 41 (IPv6-in-IPv6) whose inner
 *    IPv6 destination is a VIP, and whose outer source is a director (in the
 *    LPM trie directors4 or directors6), loses its outer header
 *    (bpf_skb_adjust_room, BPF_ADJ_ROOM_MAC); the stack then receives the
 *    inner packet as if it had arrived so. The same packet from any other
 *    outer source is dropped (TC_ACT_SHOT) and counted: the inner source is
 *    whatever the sender wrote, so accepting it would let anyone who can
 *    reach this host inject packets that seem to come from any client, and
 *    passing it would let a kernel with an ipip device decapsulate it. Empty
 *    tries accept no director. The family does not change, so
 *    skb->protocol and the Ethernet type stay right. A GRO-merged packet
 *    keeps its gso_size (BPF_F_ADJ_ROOM_FIXED_GSO): removing the outer
 *    header does not change the inner segments' size. Not decapsulated
 *    (passed unchanged, counted): outer IPv4 fragments, outer IPv6 packets
 *    with extension headers before the inner header, mixed families (4-in-6,
 *    6-in-4), inner destinations that are not VIPs, truncated packets.
 *
 *    With cfg_gue_port set, GUE too: a UDP datagram to that port whose GUE
 *    header (variant 0 without options, or variant 1: see gue()) carries an
 *    IP packet of the outer family loses the outer IP, UDP and GUE headers,
 *    under the same conditions. Its UDP checksum is not verified: the inner
 *    headers carry their own. Any other UDP goes on untouched.
 *
 * 2. TOA (with cfg_toa set): for a TCP segment (after decapsulation, or as
 *    received) carrying option 254 of length 8 (IPv4 client) or 20 (IPv6
 *    client), record (local addr:port, remote addr:port) -> (client
 *    addr:port, time) in the LRU hash "toa". A SYN without ACK deletes the
 *    entry of its tuple, so a reused tuple never inherits an old client.
 *    IPv6 segments are read only when TCP follows the fixed header.
 *
 * Apart from those tunnel packets the program drops nothing: anything it does
 * not handle goes on (TCX_NEXT). Addresses in the vips and toa maps are 16
 * bytes, IPv4 as ::ffff:a.b.c.d; the director tries have one per family, so
 * that no IPv6 source can match an IPv4 director.
 */
#include "common.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_IPV6 41

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_TOA 254
#define TCPOLEN_TOA4 8
#define TCPOLEN_TOA6 20
#define TCP_MAX_OPTS 40
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

#define GUE_HLEN 4 /* the GUE base header */


/* Keep in sync with statNames in stats.go. */
enum stat {
	STAT_PACKETS,               /* every packet seen */
	STAT_DECAP_IPIP,            /* IPv4-in-IPv4 to a VIP from a director, decapsulated */
	STAT_DECAP_IP6IP6,          /* IPv6-in-IPv6 to a VIP from a director, decapsulated */
	STAT_DECAP_GUE,             /* GUE (IPv4 or IPv6) to a VIP from a director, decapsulated */
	STAT_PASSED,                /* not a tunnel packet for us: passed unchanged */
	STAT_PASSED_NOT_VIP,        /* tunnel packet whose inner destination is no VIP */
	STAT_PASSED_FRAGMENT,       /* outer IPv4 fragment: not decapsulated */
	STAT_PASSED_UNSUPPORTED,    /* 4-in-6, 6-in-4, GUE we do not decapsulate: passed */
	STAT_MALFORMED,             /* truncated or inconsistent headers: passed */
	STAT_DECAP_ERROR,           /* bpf_skb_adjust_room failed: passed encapsulated */
	STAT_DROPPED_NOT_DIRECTOR,  /* tunnel packet to a VIP from no director: dropped */
	STAT_TOA_RECORDED,          /* TOA found and recorded */
	STAT_TOA_BAD_LENGTH,        /* option 254 with a length other than 8 or 20 */
	STAT_TOA_UPDATE_ERROR,      /* map update failed */
	STAT_TOA_SYN_CLEARED,       /* SYN: the tuple's old entry deleted */
	STAT_MAX,
};

struct addr {
	__u8 b[16];
};

struct toa_key {
	struct addr laddr; /* the segment's destination: this host */
	struct addr raddr; /* its source: the director's local address (FULLNAT) */
	__be16 lport;
	__be16 rport;
};

struct toa_val {
	struct addr caddr; /* the client, from the option */
	__be16 cport;
	__u16 pad0;
	__u32 pad1;
	__u64 seen_ns; /* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last segment */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct addr);
	__type(value, __u8);
	__uint(max_entries, 1024);
} vips SEC(".maps");

/* The directors' tunnel sources, as prefixes (a host is /32 or /128). */
struct dir4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct dir6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct dir4_key);
	__type(value, __u8);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} directors4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct dir6_key);
	__type(value, __u8);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} directors6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct toa_key);
	__type(value, struct toa_val);
	__uint(max_entries, 65536); /* set by the loader (--toa-entries) */
} toa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, STAT_MAX);
} stats SEC(".maps");

/* Set by the loader: record TOA. */
volatile const __u8 cfg_toa = 0;

/* Set by the loader: the UDP port of GUE tunnels (host order); 0: none. */
volatile const __u16 cfg_gue_port = 0;

static __always_inline void count(__u32 s)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &s);
	if (v)
		*v += 1;
}

/* Make the first n bytes directly readable if the packet has them. Returns
 * 0 when they are. */
static __always_inline int need(struct __sk_buff *skb, __u32 n)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + n <= data_end)
		return 0;
	if (skb->len < n)
		return -1;
	if (bpf_skb_pull_data(skb, n))
		return -1;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	return data + n <= data_end ? 0 : -1;
}

static __always_inline void map4(struct addr *a, __be32 v4)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	__builtin_memcpy(&a->b[12], &v4, 4);
}

/* i & 63, hidden from clang so that it cannot drop the mask it could prove
 * redundant: the verifier needs it to bound stack reads. */
static __always_inline __u32 bound63(__u32 i)
{
	asm volatile("" : "+r"(i));
	return i & 63;
}

/* The TCP option walk, one option per bpf_loop step. opts holds 128 bytes,
 * all initialised, and every read is at (i & 63) + at most 19, so the
 * verifier sees variable-offset stack reads within the buffer. */
struct optscan {
	__u8 opts[128];
	__u32 optlen; /* bytes of options, <= 40 */
	__u32 i;      /* offset of the next option */
	__u32 found;  /* an option 254 at pos, of length len */
	__u32 pos;
	__u32 len;
};

static long scan_option(__u64 index, void *ctx)
{
	struct optscan *sc = ctx;
	__u32 i = sc->i;
	if (i >= sc->optlen || i >= TCP_MAX_OPTS)
		return 1;
	__u32 j = bound63(i);
	__u8 kind = sc->opts[j];
	if (kind == TCPOPT_EOL)
		return 1;
	if (kind == TCPOPT_NOP) {
		sc->i = i + 1;
		return 0;
	}
	if (i + 1 >= sc->optlen)
		return 1;
	__u8 len = sc->opts[j + 1];
	if (len < 2 || i + len > sc->optlen)
		return 1;
	if (kind == TCPOPT_TOA) {
		sc->found = 1;
		sc->pos = i;
		sc->len = len;
		return 1;
	}
	sc->i = i + len;
	return 0;
}

/* TOA on a TCP segment whose IP header starts at l3 (bytes from skb->data)
 * and whose TCP header starts at l4. Addresses already in key. */
static __always_inline void record_toa(struct __sk_buff *skb, __u32 l4, struct toa_key *key)
{
	if (need(skb, l4 + sizeof(struct tcphdr)))
		return;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcphdr *th = data + l4;
	if ((void *)(th + 1) > data_end)
		return;
	key->lport = th->dest;
	key->rport = th->source;
	__u8 flags = th->flags;
	__u32 optlen = (th->doff_res >> 4) * 4;
	if ((flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
		if (bpf_map_delete_elem(&toa, key) == 0)
			count(STAT_TOA_SYN_CLEARED);
		return;
	}
	if (optlen <= sizeof(struct tcphdr))
		return;
	optlen -= sizeof(struct tcphdr);
	if (optlen > TCP_MAX_OPTS)
		return;

	struct optscan sc = {};
	sc.optlen = optlen;
	if (bpf_skb_load_bytes(skb, l4 + sizeof(struct tcphdr), sc.opts, optlen))
		return;
	/* bpf_loop: the walk is verified once, however many options there are. */
	bpf_loop(TCP_MAX_OPTS, scan_option, &sc, 0);
	if (!sc.found)
		return;

	__u32 j = bound63(sc.pos);
	struct toa_val val = {};
	if (sc.len == TCPOLEN_TOA4) {
		__be32 a;
		__builtin_memcpy(&val.cport, &sc.opts[j + 2], 2);
		__builtin_memcpy(&a, &sc.opts[j + 4], 4);
		map4(&val.caddr, a);
	} else if (sc.len == TCPOLEN_TOA6) {
		__builtin_memcpy(&val.cport, &sc.opts[j + 2], 2);
		__builtin_memcpy(&val.caddr, &sc.opts[j + 4], 16);
	} else {
		count(STAT_TOA_BAD_LENGTH);
		return;
	}
	val.seen_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&toa, key, &val, BPF_ANY))
		count(STAT_TOA_UPDATE_ERROR);
	else
		count(STAT_TOA_RECORDED);
}

/* The IP packet at ETH_HLEN: record TOA if it is TCP. */
static __always_inline void inspect(struct __sk_buff *skb)
{
	const __u32 l3 = sizeof(struct ethhdr);
	struct toa_key key = {};
	if (need(skb, l3 + 1))
		return;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *v = data + l3;
	if ((void *)(v + 1) > data_end)
		return;
	if ((*v >> 4) == 4) {
		if (need(skb, l3 + sizeof(struct iphdr)))
			return;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return;
		__u32 ihl = (ip->ihl_version & 0xF) * 4;
		if (ip->protocol != IPPROTO_TCP || ihl < sizeof(struct iphdr) ||
		    (ip->frag_off & bpf_htons(0x3FFF)))
			return;
		map4(&key.laddr, ip->daddr);
		map4(&key.raddr, ip->saddr);
		record_toa(skb, l3 + ihl, &key);
	} else if ((*v >> 4) == 6) {
		if (need(skb, l3 + sizeof(struct ipv6hdr)))
			return;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return;
		if (ip6->nexthdr != IPPROTO_TCP)
			return;
		__builtin_memcpy(&key.laddr, ip6->daddr, 16);
		__builtin_memcpy(&key.raddr, ip6->saddr, 16);
		record_toa(skb, l3 + sizeof(struct ipv6hdr), &key);
	}
}

/* The GUE encapsulation (draft-ietf-intarea-gue) of the UDP datagram at off,
 * whose IP header says it has len bytes: to cfg_gue_port, either variant 0
 * without options or control (IPVS's --tun-type gue without remote checksum
 * offload) carrying proto (IPPROTO_IPIP or IPPROTO_IPV6: the outer family), or
 * variant 1, the inner IP header straight after UDP (as Katran sends it), of
 * the outer family. Returns STAT_DECAP_GUE with *glen the bytes of the UDP and
 * GUE headers, STAT_PASSED for UDP that is not to the port, or why not. */
static __always_inline __u32 gue(struct __sk_buff *skb, __u32 off, __u32 len, __u8 proto, __u32 *glen)
{
	if (need(skb, off + sizeof(struct udphdr)))
		return STAT_PASSED;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct udphdr *uh = data + off;
	if ((void *)(uh + 1) > data_end)
		return STAT_PASSED;
	if (bpf_ntohs(uh->dest) != cfg_gue_port)
		return STAT_PASSED;
	if (bpf_ntohs(uh->len) != len || need(skb, off + sizeof(struct udphdr) + GUE_HLEN))
		return STAT_MALFORMED;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	__u8 *g = data + off + sizeof(struct udphdr);
	if ((void *)(g + GUE_HLEN) > data_end)
		return STAT_MALFORMED;
	switch (g[0] >> 6) {
	case 0: /* |0 0|C|Hlen|Proto/ctype|Flags|: a data message, no options */
		if (g[0] != 0 || g[1] != proto || g[2] || g[3])
			return STAT_PASSED_UNSUPPORTED;
		*glen = sizeof(struct udphdr) + GUE_HLEN;
		return STAT_DECAP_GUE;
	case 1: /* 0100: IPv4, 0110: IPv6 */
		if ((g[0] >> 4) != (proto == IPPROTO_IPIP ? 4 : 6))
			return STAT_PASSED_UNSUPPORTED;
		*glen = sizeof(struct udphdr);
		return STAT_DECAP_GUE;
	}
	return STAT_PASSED_UNSUPPORTED;
}

/* Decapsulate if the packet is a tunnel packet for a VIP from a director.
 * Returns the stat to count (STAT_DROPPED_NOT_DIRECTOR: drop it). */
static __always_inline __u32 decap(struct __sk_buff *skb)
{
	const __u32 l3 = sizeof(struct ethhdr);
	if (need(skb, l3))
		return STAT_PASSED;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return STAT_PASSED;
	struct addr vip;
	__u32 glen = 0;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if (need(skb, l3 + sizeof(struct iphdr)))
			return STAT_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return STAT_MALFORMED;
		__u8 proto = ip->protocol;
		__u8 version = ip->ihl_version >> 4;
		__be16 frag = ip->frag_off & bpf_htons(0x3FFF);
		__u32 ihl = (ip->ihl_version & 0xF) * 4;
		__u32 tot = bpf_ntohs(ip->tot_len);
		/* Copied now: need() may pull data, which invalidates ip. */
		struct dir4_key d4 = {.prefixlen = 32};
		__builtin_memcpy(d4.addr, &ip->saddr, 4);
		__u32 s = STAT_DECAP_IPIP;
		if (proto == IPPROTO_UDP && cfg_gue_port) {
			/* Any other UDP goes on as it came, however odd. */
			if (version != 4 || frag || ihl < sizeof(struct iphdr) || tot < ihl)
				return STAT_PASSED;
			s = gue(skb, l3 + ihl, tot - ihl, IPPROTO_IPIP, &glen);
			if (s != STAT_DECAP_GUE)
				return s;
		} else if (proto != IPPROTO_IPIP) {
			if (proto == IPPROTO_IPV6)
				return STAT_PASSED_UNSUPPORTED;
			return STAT_PASSED;
		}
		if (version != 4)
			return STAT_MALFORMED;
		if (frag)
			return STAT_PASSED_FRAGMENT;
		__u32 hdr = ihl + glen; /* what decapsulation removes */
		if (ihl < sizeof(struct iphdr) || ihl > 60 || hdr > 60 + sizeof(struct udphdr) + GUE_HLEN ||
		    tot < hdr + sizeof(struct iphdr) || l3 + tot > skb->len)
			return STAT_MALFORMED;
		if (need(skb, l3 + hdr + sizeof(struct iphdr)))
			return STAT_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct iphdr *in = data + l3 + hdr;
		if ((void *)(in + 1) > data_end)
			return STAT_MALFORMED;
		if ((in->ihl_version >> 4) != 4 || bpf_ntohs(in->tot_len) != tot - hdr)
			return STAT_MALFORMED;
		map4(&vip, in->daddr);
		if (!bpf_map_lookup_elem(&vips, &vip))
			return STAT_PASSED_NOT_VIP;
		if (!bpf_map_lookup_elem(&directors4, &d4))
			return STAT_DROPPED_NOT_DIRECTOR;
		if (bpf_skb_adjust_room(skb, -(__s32)hdr, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
			return STAT_DECAP_ERROR;
		return s;
	}

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		const __u32 hl = sizeof(struct ipv6hdr);
		if (need(skb, l3 + hl))
			return STAT_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return STAT_MALFORMED;
		__u8 proto = ip6->nexthdr;
		__u32 plen = bpf_ntohs(ip6->payload_len);
		struct dir6_key d6 = {.prefixlen = 128};
		__builtin_memcpy(d6.addr, ip6->saddr, 16);
		__u32 s = STAT_DECAP_IP6IP6;
		if (proto == IPPROTO_UDP && cfg_gue_port) {
			s = gue(skb, l3 + hl, plen, IPPROTO_IPV6, &glen);
			if (s != STAT_DECAP_GUE)
				return s;
		} else if (proto != IPPROTO_IPV6) {
			if (proto == IPPROTO_IPIP)
				return STAT_PASSED_UNSUPPORTED;
			return STAT_PASSED;
		}
		__u32 hdr = hl + glen;
		if (hdr > hl + sizeof(struct udphdr) + GUE_HLEN || plen < glen + hl || l3 + hl + plen > skb->len)
			return STAT_MALFORMED;
		if (need(skb, l3 + hdr + hl))
			return STAT_MALFORMED;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		struct ipv6hdr *in6 = data + l3 + hdr;
		if ((void *)(in6 + 1) > data_end)
			return STAT_MALFORMED;
		if ((bpf_ntohl(in6->vtc_flow) >> 28) != 6 || bpf_ntohs(in6->payload_len) != plen - glen - hl)
			return STAT_MALFORMED;
		__builtin_memcpy(&vip, in6->daddr, 16);
		if (!bpf_map_lookup_elem(&vips, &vip))
			return STAT_PASSED_NOT_VIP;
		if (!bpf_map_lookup_elem(&directors6, &d6))
			return STAT_DROPPED_NOT_DIRECTOR;
		if (bpf_skb_adjust_room(skb, -(__s32)hdr, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
			return STAT_DECAP_ERROR;
		return s;
	}
	return STAT_PASSED;
}

SEC("tc")
int xdpvs_rs(struct __sk_buff *skb)
{
	count(STAT_PACKETS);
	__u32 s = decap(skb);
	count(s);
	if (s == STAT_DROPPED_NOT_DIRECTOR)
		return TC_ACT_SHOT;
	if (cfg_toa && s != STAT_MALFORMED && s != STAT_DECAP_ERROR)
		inspect(skb);
	return TC_ACT_UNSPEC;
}

char __license[] SEC("license") = "Dual BSD/GPL";
