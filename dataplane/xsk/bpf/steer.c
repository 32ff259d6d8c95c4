// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpvs steering program: redirect to the AF_XDP socket of the receiving
 * queue only what the director must handle, XDP_PASS everything else; a
 * TCP/UDP packet of an established connection whose record the workers
 * installed is forwarded by the program itself, before anything else is
 * parsed (fastpath.h).
 *
 * Redirected:
 *   - TCP/UDP to a service (proto, dst addr, dst port), or to an all-ports
 *     service (proto, dst addr, port 0);
 *   - TCP/UDP to a local address (FULLNAT LIP);
 *   - TCP/UDP replies of a NAT connection the workers made: the reply tuple
 *     is in nat_flows, which the workers fill before they send a
 *     connection's first packet to its real server and empty when it goes.
 *     Anything else from a real server's address and port (the director's
 *     own health checks, a client that talks to the real server directly
 *     through the director) stays with the kernel, as IPVS leaves it;
 *   - ICMP/ICMPv6 errors (v4 types 3,4,5,11,12; v6 types 1-4) whose quoted
 *     packet is one we forwarded to a real server for a NAT connection
 *     (its reverse in nat_flows), (proto, src, sport) = service, or src =
 *     local address.
 *   - TCP/UDP fragments (IPv4 MF or offset, IPv6 fragment header with M or
 *     an offset): later fragments carry no ports, so every fragment is
 *     steered by address alone (frag_addrs): to a VIP or a local address,
 *     or from a NAT real server. The workers follow each datagram's first
 *     fragment (dataplane/frag.go).
 * Passed (to the kernel): everything else, including other fragments
 * (counted as passed_fragment), VLAN-tagged frames (802.1Q and
 * 802.1ad: the workers do not handle tags yet, so a tagged frame to a VIP
 * must not be redirected and then dropped), non-IP frames (ARP), ICMP echo,
 * ND, and frames that do not parse (truncated, garbage, too many extension
 * headers).
 *
 * bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS) falls back to the kernel
 * when the receiving queue has no socket (counted as redirect_no_socket).
 */
#include "common.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60

#define FAMILY_V4 4
#define FAMILY_V6 6

#define MAX_EXT_HDRS 6

/* Keep in sync with steering_linux.go. */
enum stat {
	STAT_PACKETS,           /* every frame seen */
	STAT_REDIRECTED,        /* returned XDP_REDIRECT */
	STAT_REDIRECT_NO_SOCKET,/* matched but no socket on this queue: passed */
	STAT_PASSED,            /* returned XDP_PASS (all reasons) */
	STAT_PASSED_FRAGMENT,   /* IP fragment, passed */
	STAT_PASSED_NOT_IP,     /* not IPv4/IPv6 (ARP, LLDP, ...), passed */
	STAT_PARSE_ERROR,       /* truncated or malformed, passed */
	STAT_MATCH_SERVICE,
	STAT_MATCH_REAL_SERVER, /* a NAT connection's reply */
	STAT_MATCH_LOCAL_ADDR,
	STAT_MATCH_ICMP_ERROR,
	STAT_PASSED_VLAN,       /* VLAN-tagged, passed */
	STAT_MATCH_FRAGMENT,    /* TCP/UDP fragment to a VIP or LIP, or from a NAT real server */
	STAT_FAST_TX,           /* fast path: forwarded back out of the ingress interface */
	STAT_FAST_REDIRECT,     /* fast path: forwarded, redirected to the egress port */
	STAT_FAST_TO_WORKER,    /* a record's, but the worker must see it (SYN/FIN/RST, ...) */
	STAT_FAST_TOO_BIG,      /* a record's, too big for its tunnel: to the worker */
	STAT_FAST_NO_PORT,      /* a record's, its egress port not in fast_ports: to the worker */
	STAT_FAST_ABORTED,      /* a record's, the rewrite failed half way: dropped */
	STAT_MAX,
};

/* (family, proto, port, addr): services and real servers. Port in network
 * byte order; an IPv4 address fills addr[0..3], the rest is zero. */
struct ep_key {
	__u8 family;
	__u8 proto;
	__be16 port;
	__u8 addr[16];
};

/* (family, addr): local (FULLNAT) addresses. */
struct addr_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* A NAT connection's reply tuple, as it arrives from the real server. Ports
 * in network byte order; IPv4 addresses fill the first 4 bytes. */
struct flow_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u8 pad[2];
	__u8 saddr[16];
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ep_key);
	__type(value, __u32);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} services SEC(".maps");

/* Sized by the Go side: every connection the workers' tables can hold. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, __u32);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} nat_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct addr_key);
	__type(value, __u32);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} local_addrs SEC(".maps");

/* Addresses whose fragments the workers take (key.pad[0] is the role:
 * FRAG_TO, a VIP the fragment is sent to; FRAG_FROM, a NAT real server it
 * comes from). Local addresses are in local_addrs. */
#define FRAG_TO 1
#define FRAG_FROM 2
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct addr_key);
	__type(value, __u32);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} frag_addrs SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, STAT_MAX);
} stats SEC(".maps");

/* One per interface (the Go side loads one program instance per
 * interface), indexed by rx queue id. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 256);
} xsks SEC(".maps");

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct ipv4_hdr {
	__u8 vihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__sum16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct ipv6_hdr {
	__be32 vtcfl;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 id;
};

struct ports {
	__be16 src;
	__be16 dst;
};

struct icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 rest;
};

/* What parse_ip found. */
struct l3 {
	__u8 family;
	__u8 proto;
	__u8 saddr[16];
	__u8 daddr[16];
};

enum parse_result {
	PARSE_OK,
	PARSE_ERROR,
	PARSE_FRAGMENT,
};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

/* parse_ipv4 parses an IPv4 header at *pos; on PARSE_OK *pos is its
 * payload. */
static __always_inline int parse_ipv4(void **pos, void *end, struct l3 *l3)
{
	struct ipv4_hdr *ip = *pos;
	if ((void *)(ip + 1) > end)
		return PARSE_ERROR;
	if ((ip->vihl >> 4) != 4)
		return PARSE_ERROR;
	__u32 hlen = (ip->vihl & 0x0f) * 4;
	if (hlen < sizeof(*ip))
		return PARSE_ERROR;
	if (*pos + hlen > end)
		return PARSE_ERROR;
	l3->family = FAMILY_V4;
	l3->proto = ip->proto;
	__builtin_memcpy(l3->saddr, ip->saddr, 4);
	__builtin_memcpy(l3->daddr, ip->daddr, 4);
	/* Non-first fragment (offset != 0) or first with more to come: l3
	 * holds its addresses and protocol. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return PARSE_FRAGMENT;
	*pos += hlen;
	return PARSE_OK;
}

/* parse_ipv6 parses an IPv6 header and up to MAX_EXT_HDRS extension
 * headers; on PARSE_OK *pos is the upper-layer header and l3->proto its
 * protocol. */
static __always_inline int parse_ipv6(void **pos, void *end, struct l3 *l3)
{
	struct ipv6_hdr *ip6 = *pos;
	if ((void *)(ip6 + 1) > end)
		return PARSE_ERROR;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return PARSE_ERROR;
	l3->family = FAMILY_V6;
	__builtin_memcpy(l3->saddr, ip6->saddr, 16);
	__builtin_memcpy(l3->daddr, ip6->daddr, 16);
	__u8 nh = ip6->nexthdr;
	void *p = ip6 + 1;

	/* MAX_EXT_HDRS extension headers, then the upper-layer header. */
	for (int i = 0; i <= MAX_EXT_HDRS; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH: {
			struct ext_hdr *eh = p;
			if ((void *)(eh + 1) > end)
				return PARSE_ERROR;
			__u32 len = nh == IPPROTO_AH ? ((__u32)eh->hdrlen + 2) * 4
						     : ((__u32)eh->hdrlen + 1) * 8;
			nh = eh->nexthdr;
			p += len;
			continue;
		}
		case IPPROTO_FRAGMENT: {
			struct frag_hdr *fh = p;
			if ((void *)(fh + 1) > end)
				return PARSE_ERROR;
			/* Atomic fragments (offset 0, M clear) are whole. */
			if (fh->frag_off & bpf_htons(0xfff9)) {
				l3->proto = fh->nexthdr;
				return PARSE_FRAGMENT;
			}
			nh = fh->nexthdr;
			p = fh + 1;
			continue;
		}
		default:
			l3->proto = nh;
			*pos = p;
			return PARSE_OK;
		}
	}
	return PARSE_ERROR; /* too many extension headers */
}

static __always_inline int is_service(const struct l3 *l3, __be16 port)
{
	struct ep_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = l3->family;
	k.proto = l3->proto;
	__builtin_memcpy(k.addr, l3->daddr, 16);
	k.port = port;
	if (bpf_map_lookup_elem(&services, &k))
		return 1;
	k.port = 0;
	return bpf_map_lookup_elem(&services, &k) != 0;
}

/* is_service_src: quoted packet sent by the director from VIP:vport. */
static __always_inline int is_service_src(const struct l3 *l3, __be16 port)
{
	struct ep_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = l3->family;
	k.proto = l3->proto;
	__builtin_memcpy(k.addr, l3->saddr, 16);
	k.port = port;
	if (bpf_map_lookup_elem(&services, &k))
		return 1;
	k.port = 0;
	return bpf_map_lookup_elem(&services, &k) != 0;
}

/* is_nat_flow: (saddr:sport -> daddr:dport) is the reply tuple of one of the
 * workers' NAT connections. */
static __always_inline int is_nat_flow(__u8 family, __u8 proto, const __u8 *saddr, __be16 sport,
				       const __u8 *daddr, __be16 dport)
{
	struct flow_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = family;
	k.proto = proto;
	k.sport = sport;
	k.dport = dport;
	__builtin_memcpy(k.saddr, saddr, 16);
	__builtin_memcpy(k.daddr, daddr, 16);
	return bpf_map_lookup_elem(&nat_flows, &k) != 0;
}

static __always_inline int in_addr_map(void *map, __u8 family, const __u8 *addr)
{
	struct addr_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = family;
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(map, &k) != 0;
}

/* is_our_fragment: a TCP/UDP fragment the workers take (frag_addrs). */
static __always_inline int is_our_fragment(const struct l3 *l3)
{
	if (l3->proto != IPPROTO_TCP && l3->proto != IPPROTO_UDP)
		return 0;
	struct addr_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = l3->family;
	k.pad[0] = FRAG_TO;
	__builtin_memcpy(k.addr, l3->daddr, 16);
	if (bpf_map_lookup_elem(&frag_addrs, &k))
		return 1;
	if (in_addr_map(&local_addrs, l3->family, l3->daddr))
		return 1;
	k.pad[0] = FRAG_FROM;
	__builtin_memcpy(k.addr, l3->saddr, 16);
	return bpf_map_lookup_elem(&frag_addrs, &k) != 0;
}

static __always_inline int is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

#include "fastpath.h"

/* classify returns the STAT_MATCH_* reason to redirect, or 0 to pass;
 * STAT_PARSE_ERROR / STAT_PASSED_FRAGMENT say why it passed. A packet the
 * fast path forwarded (or dropped) sets *act to its action and returns the
 * STAT_FAST_* to count. */
static __always_inline __u32 classify(struct xdp_md *ctx, int *act)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	void *pos;
	struct l3 l3;
	int r;

	if ((void *)(eth + 1) > end)
		return STAT_PARSE_ERROR;
	__be16 proto = eth->proto;
	pos = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return STAT_PASSED_VLAN;

	if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6)) {
		__u32 fwhy;
		int a = proto == bpf_htons(ETH_P_IP) ? fast_forward4(ctx, &fwhy) : fast_forward6(ctx, &fwhy);
		if (a >= 0) {
			*act = a;
			return fwhy;
		}
		if (fwhy)
			count(fwhy);
	}

	__builtin_memset(&l3, 0, sizeof(l3));
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4(&pos, end, &l3);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6(&pos, end, &l3);
	else
		return STAT_PASSED_NOT_IP; /* ARP, LLDP, ... */
	if (r == PARSE_FRAGMENT)
		return is_our_fragment(&l3) ? STAT_MATCH_FRAGMENT : STAT_PASSED_FRAGMENT;
	if (r != PARSE_OK)
		return STAT_PARSE_ERROR;

	if (l3.proto == IPPROTO_TCP || l3.proto == IPPROTO_UDP) {
		struct ports *pp = pos;
		__u32 l4len = l3.proto == IPPROTO_TCP ? 20 : 8;
		if (pos + l4len > end)
			return STAT_PARSE_ERROR;
		if ((void *)(pp + 1) > end)
			return STAT_PARSE_ERROR;
		if (is_service(&l3, pp->dst))
			return STAT_MATCH_SERVICE;
		if (in_addr_map(&local_addrs, l3.family, l3.daddr))
			return STAT_MATCH_LOCAL_ADDR;
		if (is_nat_flow(l3.family, l3.proto, l3.saddr, pp->src, l3.daddr, pp->dst))
			return STAT_MATCH_REAL_SERVER;
		return 0;
	}

	if ((l3.family == FAMILY_V4 && l3.proto == IPPROTO_ICMP) ||
	    (l3.family == FAMILY_V6 && l3.proto == IPPROTO_ICMPV6)) {
		struct icmp_hdr *ih = pos;
		if ((void *)(ih + 1) > end)
			return STAT_PARSE_ERROR;
		if (!is_icmp_error(l3.proto, ih->type))
			return 0; /* echo, ND, MLD, ... */
		struct l3 in;
		__builtin_memset(&in, 0, sizeof(in));
		pos = ih + 1;
		if (l3.family == FAMILY_V4)
			r = parse_ipv4(&pos, end, &in);
		else
			r = parse_ipv6(&pos, end, &in);
		if (r == PARSE_FRAGMENT) {
			/* A quoted non-first fragment carries no ports; a
			 * quoted first fragment does, but keep it simple: the
			 * director never fragments what it sends. */
			return 0;
		}
		if (r != PARSE_OK)
			return STAT_PARSE_ERROR;
		if (in.proto != IPPROTO_TCP && in.proto != IPPROTO_UDP)
			return 0;
		/* RFC 792/4443: at least 8 bytes of the quoted payload. */
		struct ports *pp = pos;
		if (pos + 8 > end)
			return STAT_PARSE_ERROR;
		if ((void *)(pp + 1) > end)
			return STAT_PARSE_ERROR;
		/* Quoting a reply we sent from VIP:vport, or a packet we sent from a
		 * LIP, or a packet of a NAT connection we forwarded to a real
		 * server; but not a packet the director itself sent to a real
		 * server (a health check): its errors belong to the kernel's
		 * socket. */
		if (is_service_src(&in, pp->src) ||
		    in_addr_map(&local_addrs, in.family, in.saddr))
			return STAT_MATCH_ICMP_ERROR;
		if (is_nat_flow(in.family, in.proto, in.daddr, pp->dst, in.saddr, pp->src))
			return STAT_MATCH_ICMP_ERROR;
		return 0;
	}
	return 0;
}

SEC("xdp")
int xdpvs_steer(struct xdp_md *ctx)
{
	count(STAT_PACKETS);
	int act = -1;
	__u32 why = classify(ctx, &act);
	if (act >= 0) {
		count(why);
		return act;
	}
	switch (why) {
	case STAT_MATCH_SERVICE:
	case STAT_MATCH_REAL_SERVER:
	case STAT_MATCH_LOCAL_ADDR:
	case STAT_MATCH_ICMP_ERROR:
	case STAT_MATCH_FRAGMENT: {
		count(why);
		long ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
		if (ret == XDP_REDIRECT) {
			count(STAT_REDIRECTED);
			return XDP_REDIRECT;
		}
		count(STAT_REDIRECT_NO_SOCKET);
		break;
	}
	case STAT_PASSED_FRAGMENT:
	case STAT_PASSED_NOT_IP:
	case STAT_PASSED_VLAN:
	case STAT_PARSE_ERROR:
		count(why);
		break;
	}
	count(STAT_PASSED);
	return XDP_PASS;
}

char __license[] SEC("license") = "Dual BSD/GPL";
