// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Postern TPROXY: a tc ingress program that hands TCP connections and UDP datagrams for a Gateway's address
 * and port to Postern's transparent sockets with bpf_sk_assign.
 *
 * Per packet (IPv4 and IPv6, TCP and UDP):
 *   1. look the destination (family, protocol, port, address prefix) up in postern_services; no entry: pass
 *      untouched (TC_ACT_UNSPEC, so that tcx/cls_bpf programs after this one, e.g. a CNI's, still run);
 *      UDP: bpf_sk_lookup_udp with the destination rewritten to the service's socket address (Postern binds one
 *      IP_TRANSPARENT UDP socket per Gateway address and port, so that is usually the destination itself), then
 *      step 4; a connected or wildcard socket of another program is never chosen by the packet's own tuple;
 *   2. bpf_skc_lookup_tcp with the packet's own tuple: an established, request (NEW_SYN_RECV) or time-wait
 *      socket gets the packet; a listening socket found here (bound to the VIP or a wildcard) is ignored.
 *      A SYN that meets a time-wait socket (the client reuses its port within 60 s of a connection Postern
 *      closed) is only marked and left to the kernel: its time-wait code kills that socket and looks a listener
 *      up for the VIP:port, which postern_sk_lookup (below) answers with the transparent listener. Given to the
 *      listener directly, the SYN would be dropped (the request socket collides with the time-wait entry);
 *
 *   3. otherwise bpf_skc_lookup_tcp with the destination rewritten to the service's listener address:
 *      the listener gets the packet (a SYN, a syncookie ACK, or a stray segment the listener answers with RST);
 *   4. bpf_sk_assign, release the socket, set the configured mark (under its mask) so that the node's fwmark
 *      rule routes the packet to the "local" table, and return TC_ACT_OK;
 *   5. when no socket is found or the assignment fails: drop (fail-closed) or pass untouched (fail-open).
 *
 * postern_sk_lookup, an sk_lookup program attached to the node's network namespace, runs when the kernel looks a
 * listener up (here: only for such a reopening SYN, since everything else arrives already assigned): for a TCP
 * destination in postern_services it selects the transparent listener from postern_listeners (a sockmap that
 * Postern fills with its listeners' sockets: slot 0 IPv4, slot 1 IPv6).
 *
 * The map layouts are mirrored by dev.postern.tproxy.BpfMaps in the Java loader; change both together.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define POSTERN_FAMILY_IPV4 4
#define POSTERN_FAMILY_IPV6 6

/* postern_config.flags */
#define POSTERN_CFG_ENABLED (1U << 0)   /* unset: every packet passes untouched */
#define POSTERN_CFG_FAIL_OPEN (1U << 1) /* set: no socket / assign error passes untouched; unset: drop */

/* Indexes into postern_counters. */
enum postern_counter {
	POSTERN_CTR_SEEN = 0,            /* every packet the program ran on */
	POSTERN_CTR_MATCHED = 1,         /* TCP to a configured prefix and port */
	POSTERN_CTR_ASSIGNED_ESTABLISHED = 2, /* given to an established, request or time-wait socket */
	POSTERN_CTR_ASSIGNED_LISTENER = 3,    /* given to the transparent listener */
	POSTERN_CTR_NO_LISTENER = 4,     /* matched, no connection socket, and no listener */
	POSTERN_CTR_ASSIGN_ERRORS = 5,   /* bpf_sk_assign returned an error */
	POSTERN_CTR_DROPPED = 6,         /* dropped because of fail-closed */
	POSTERN_CTR_FAILED_OPEN = 7,     /* passed untouched because of fail-open */
	POSTERN_CTR_UNPARSED = 8,        /* matched protocol but headers were truncated or fragmented */
	POSTERN_CTR_ASSIGNED_UDP = 9,    /* UDP datagrams given to Postern's UDP socket */
	POSTERN_CTR_TIME_WAIT_SYN = 10,  /* a SYN that met a time-wait socket: marked, left to the kernel */
	POSTERN_CTR_LOOKUP_ASSIGNED = 11, /* postern_sk_lookup selected the transparent listener */
	POSTERN_CTR_MAX = 16,
};

/*
 * Longest-prefix-match key. prefixlen counts bits from `family`: 32 fixed bits (family, protocol, port) plus the
 * address prefix length. IPv4 addresses use the first 4 bytes of addr; the rest is zero.
 */
struct postern_service_key {
	__u32 prefixlen;
	__u8 family;
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__be16 port;
	__u8 addr[16];
};

/* Where matching traffic goes: the transparent listener's address (same family as the key) and port. */
struct postern_listener {
	__u8 addr[16];
	__be16 port;
	__u16 flags;
};

struct postern_config {
	__u32 mark;
	__u32 mark_mask;
	__u32 flags;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct postern_service_key);
	__type(value, struct postern_listener);
} postern_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct postern_config);
} postern_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, POSTERN_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} postern_counters SEC(".maps");

/*
 * Book-keeping for the loader only (the program never reads it): per ifindex, how Postern attached there and
 * whether it created the clsact qdisc. It lives in a pinned map so that a restarted Postern knows what it owns.
 */
struct postern_attachment {
	__u32 mode;     /* 1 = tcx link, 2 = tc clsact filter */
	__u32 flags;    /* 1 = Postern created the clsact qdisc */
	__u32 handle;
	__u32 priority;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct postern_attachment);
} postern_attach SEC(".maps");

/* The transparent listeners, for postern_sk_lookup: slot 0 the IPv4 one, slot 1 the IPv6 one. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} postern_listeners SEC(".maps");

struct postern_packet {
	struct bpf_sock_tuple tuple;
	__u8 family;
	__u8 protocol;
	__u8 syn;
};

#define PARSE_PASS 0  /* not ours: pass untouched */
#define PARSE_OK 1
#define PARSE_SHORT 2 /* headers not in the linear area (or truncated) */

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&postern_counters, &index);

	if (value)
		*value += 1; /* per-CPU slot: no atomics needed */
}

/* The tuple size must be a constant for the verifier, hence one call per family. */
static __always_inline struct bpf_sock *lookup(struct __sk_buff *skb, struct postern_packet *pkt)
{
	if (pkt->family == POSTERN_FAMILY_IPV4)
		return bpf_skc_lookup_tcp(skb, &pkt->tuple, sizeof(pkt->tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	return bpf_skc_lookup_tcp(skb, &pkt->tuple, sizeof(pkt->tuple.ipv6), BPF_F_CURRENT_NETNS, 0);
}

static __always_inline struct bpf_sock *lookup_udp(struct __sk_buff *skb, struct postern_packet *pkt)
{
	if (pkt->family == POSTERN_FAMILY_IPV4)
		return bpf_sk_lookup_udp(skb, &pkt->tuple, sizeof(pkt->tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	return bpf_sk_lookup_udp(skb, &pkt->tuple, sizeof(pkt->tuple.ipv6), BPF_F_CURRENT_NETNS, 0);
}

/* Rewrites the tuple's destination to the service's socket address. */
static __always_inline void set_destination(struct postern_packet *pkt, struct postern_listener *listener)
{
	if (pkt->family == POSTERN_FAMILY_IPV4) {
		__builtin_memcpy(&pkt->tuple.ipv4.daddr, listener->addr, 4);
		pkt->tuple.ipv4.dport = listener->port;
	} else {
		__builtin_memcpy(pkt->tuple.ipv6.daddr, listener->addr, 16);
		pkt->tuple.ipv6.dport = listener->port;
	}
}

static __always_inline int parse_l4(void *l4, void *data_end, struct postern_packet *pkt, __u8 protocol,
				    __be16 *sport, __be16 *dport)
{
	pkt->protocol = protocol;
	if (protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return PARSE_SHORT;
		*sport = udp->source;
		*dport = udp->dest;
		return PARSE_OK;
	}
	struct tcphdr *tcp = l4;

	if ((void *)(tcp + 1) > data_end)
		return PARSE_SHORT;
	*sport = tcp->source;
	*dport = tcp->dest;
	pkt->syn = tcp->syn && !tcp->ack;
	return PARSE_OK;
}

static __always_inline int parse_ipv4(void *data, void *data_end, struct postern_packet *pkt)
{
	struct iphdr *ip = data;
	__u32 ihl;

	if ((void *)(ip + 1) > data_end)
		return PARSE_SHORT;
	if (ip->version != 4 || (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP))
		return PARSE_PASS;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or a fragment offset: no complete TCP header to steer by */
		return PARSE_SHORT;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return PARSE_PASS;
	pkt->family = POSTERN_FAMILY_IPV4;
	pkt->tuple.ipv4.saddr = ip->saddr;
	pkt->tuple.ipv4.daddr = ip->daddr;
	return parse_l4(data + ihl, data_end, pkt, ip->protocol, &pkt->tuple.ipv4.sport, &pkt->tuple.ipv4.dport);
}

static __always_inline int parse_ipv6(void *data, void *data_end, struct postern_packet *pkt)
{
	struct ipv6hdr *ip6 = data;
	void *cursor;
	__u8 next;

	if ((void *)(ip6 + 1) > data_end)
		return PARSE_SHORT;
	if (ip6->version != 6)
		return PARSE_PASS;
	next = ip6->nexthdr;
	cursor = ip6 + 1;
	/* Skip a bounded number of extension headers; a fragment header means no steering. */
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u8 *opt = cursor;

		if (next == IPPROTO_TCP || next == IPPROTO_UDP)
			break;
		if (next == IPPROTO_FRAGMENT)
			return PARSE_SHORT;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS)
			return PARSE_PASS;
		if ((void *)(opt + 2) > data_end)
			return PARSE_SHORT;
		next = opt[0];
		cursor = opt + ((__u32)opt[1] + 1) * 8;
	}
	if (next != IPPROTO_TCP && next != IPPROTO_UDP)
		return PARSE_PASS;
	pkt->family = POSTERN_FAMILY_IPV6;
	__builtin_memcpy(pkt->tuple.ipv6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(pkt->tuple.ipv6.daddr, &ip6->daddr, 16);
	return parse_l4(cursor, data_end, pkt, next, &pkt->tuple.ipv6.sport, &pkt->tuple.ipv6.dport);
}

static __always_inline int parse(struct __sk_buff *skb, __u32 l2_len, struct postern_packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return PARSE_PASS;
	if (data + l2_len > data_end)
		return PARSE_SHORT;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return parse_ipv4(data + l2_len, data_end, pkt);
	return parse_ipv6(data + l2_len, data_end, pkt);
}

static __always_inline int steer(struct __sk_buff *skb, __u32 l2_len)
{
	struct postern_service_key key = {};
	struct postern_packet pkt = {};
	struct postern_listener *listener;
	struct postern_config *cfg;
	struct bpf_sock *sk;
	__u32 zero = 0;
	int parsed;
	long err;

	count(POSTERN_CTR_SEEN);
	cfg = bpf_map_lookup_elem(&postern_config, &zero);
	if (!cfg || !(cfg->flags & POSTERN_CFG_ENABLED))
		return TC_ACT_UNSPEC;
	if (skb->vlan_present) /* steer on the VLAN device itself, where the tag is gone */
		return TC_ACT_UNSPEC;

	parsed = parse(skb, l2_len, &pkt);
	if (parsed == PARSE_SHORT && skb->len > l2_len) {
		/* Headers may sit in paged data: pull the most they can need (l2 + 40 + 4*8 ext + 60 TCP). */
		__u32 want = l2_len + 160;

		if (want > skb->len)
			want = skb->len;
		if (bpf_skb_pull_data(skb, want) == 0)
			parsed = parse(skb, l2_len, &pkt);
	}
	if (parsed == PARSE_SHORT) {
		count(POSTERN_CTR_UNPARSED);
		return TC_ACT_UNSPEC;
	}
	if (parsed != PARSE_OK)
		return TC_ACT_UNSPEC;

	key.prefixlen = 32 + 128;
	key.family = pkt.family;
	key.protocol = pkt.protocol;
	if (pkt.family == POSTERN_FAMILY_IPV4) {
		key.port = pkt.tuple.ipv4.dport;
		__builtin_memcpy(key.addr, &pkt.tuple.ipv4.daddr, 4);
	} else {
		key.port = pkt.tuple.ipv6.dport;
		__builtin_memcpy(key.addr, pkt.tuple.ipv6.daddr, 16);
	}
	listener = bpf_map_lookup_elem(&postern_services, &key);
	if (!listener)
		return TC_ACT_UNSPEC;
	count(POSTERN_CTR_MATCHED);

	if (pkt.protocol == IPPROTO_UDP) {
		set_destination(&pkt, listener);
		sk = lookup_udp(skb, &pkt);
		if (!sk) {
			count(POSTERN_CTR_NO_LISTENER);
			goto failed;
		}
		err = bpf_sk_assign(skb, sk, 0);
		bpf_sk_release(sk);
		if (err != 0) {
			count(POSTERN_CTR_ASSIGN_ERRORS);
			goto failed;
		}
		count(POSTERN_CTR_ASSIGNED_UDP);
		goto steered;
	}

	/* 1. A socket for this very connection: established, request (handshake ACK) or time-wait. */
	sk = lookup(skb, &pkt);
	if (sk) {
		if (pkt.syn && sk->state == BPF_TCP_TIME_WAIT) {
			/* The kernel reopens it: kills the time-wait socket, then asks postern_sk_lookup. */
			bpf_sk_release(sk);
			count(POSTERN_CTR_TIME_WAIT_SYN);
			goto steered;
		}
		if (sk->state != BPF_TCP_LISTEN) {
			err = bpf_sk_assign(skb, sk, 0);
			bpf_sk_release(sk);
			if (err == 0) {
				count(POSTERN_CTR_ASSIGNED_ESTABLISHED);
				goto steered;
			}
			count(POSTERN_CTR_ASSIGN_ERRORS);
		} else {
			bpf_sk_release(sk);
		}
	}

	/* 2. The transparent listener: same source, destination rewritten to the listener's address. */
	set_destination(&pkt, listener);
	sk = lookup(skb, &pkt);
	if (!sk) {
		count(POSTERN_CTR_NO_LISTENER);
		goto failed;
	}
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		count(POSTERN_CTR_NO_LISTENER);
		goto failed;
	}
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err != 0) {
		count(POSTERN_CTR_ASSIGN_ERRORS);
		goto failed;
	}
	count(POSTERN_CTR_ASSIGNED_LISTENER);

steered:
	/* Route "local" through the node's fwmark rule: bpf_sk_assign does not skip the routing step. */
	skb->mark = (skb->mark & ~cfg->mark_mask) | (cfg->mark & cfg->mark_mask);
	if (skb->pkt_type == PACKET_OTHERHOST)
		bpf_skb_change_type(skb, PACKET_HOST);
	/* TC_ACT_OK ends the chain: a later program's redirect would defeat the assignment. */
	return TC_ACT_OK;

failed:
	if (cfg->flags & POSTERN_CFG_FAIL_OPEN) {
		count(POSTERN_CTR_FAILED_OPEN);
		return TC_ACT_UNSPEC;
	}
	count(POSTERN_CTR_DROPPED);
	return TC_ACT_SHOT;
}

/* For devices with an Ethernet header (ARPHRD_ETHER, veth, loopback). */
SEC("tc")
int postern_tproxy_eth(struct __sk_buff *skb)
{
	return steer(skb, ETH_HLEN);
}

/* For layer-3 devices without a link-layer header (ARPHRD_NONE: tun, wireguard, ipip). */
SEC("tc")
int postern_tproxy_l3(struct __sk_buff *skb)
{
	return steer(skb, 0);
}

/*
 * The kernel's listener lookup in the node's namespace (attached with a netns link). Only a TCP destination in
 * postern_services is answered, with the transparent listener of its family; everything else falls through to
 * the ordinary lookup. In practice it runs for a SYN that reopens a time-wait connection to a VIP (see steer()).
 */
SEC("sk_lookup")
int postern_sk_lookup(struct bpf_sk_lookup *ctx)
{
	struct postern_service_key key = {};
	struct bpf_sock *sk;
	__u32 slot;
	long err;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	key.prefixlen = 32 + 128;
	key.protocol = IPPROTO_TCP;
	key.port = bpf_htons((__u16)ctx->local_port);
	if (ctx->family == 2 /* AF_INET */) {
		__u32 ip4 = ctx->local_ip4;

		key.family = POSTERN_FAMILY_IPV4;
		__builtin_memcpy(key.addr, &ip4, 4);
		slot = 0;
	} else if (ctx->family == 10 /* AF_INET6 */) {
		__u32 ip6[4];

		ip6[0] = ctx->local_ip6[0];
		ip6[1] = ctx->local_ip6[1];
		ip6[2] = ctx->local_ip6[2];
		ip6[3] = ctx->local_ip6[3];
		key.family = POSTERN_FAMILY_IPV6;
		__builtin_memcpy(key.addr, ip6, 16);
		slot = 1;
	} else {
		return SK_PASS;
	}
	if (!bpf_map_lookup_elem(&postern_services, &key))
		return SK_PASS;
	sk = bpf_map_lookup_elem(&postern_listeners, &slot);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err == 0)
		count(POSTERN_CTR_LOOKUP_ASSIGNED);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
