// SPDX-License-Identifier: GPL-2.0
/*
 * titus-executor task egress filter: a tc classifier (sched_cls, direct
 * action) attached to the ingress hook of a task's host-side veth, so it sees
 * every frame the task sends before the host's netfilter does. See
 * docs/ebpf.md for the design; src/vpc/bpf/layout.ts must match the map
 * layouts below byte for byte.
 *
 * Per frame, in this order:
 *   - the attachment is not configured yet (config.flags lacks CONFIGURED):
 *     drop (fail closed; the task's eth0 is not up before the config is in);
 *   - VLAN-tagged frames and ethertypes other than IPv4, IPv6 and ARP: drop;
 *   - ARP: pass when the sender address is the task's (or 0.0.0.0, a probe);
 *   - IPv4: the source must be one of the task's addresses; to the metadata
 *     address only unfragmented TCP to the proxy port passes;
 *   - IPv6: the source must be one of the task's addresses, except neighbour
 *     discovery (RS, NS, NA) and MLD from a link-local or the unspecified
 *     address; to the metadata address only TCP (no extension headers) to the
 *     proxy port passes.
 * A passing frame gets skb->priority = config.priority (the HTB class the
 * bandwidth shaping uses, major:minor) and TC_ACT_UNSPEC, so the next filter
 * on the hook (the bandwidth shaping's redirect to its IFB) still runs.
 *
 * Maps belong to one attachment (each tc filter loads its own copy of this
 * object), so the interface's filter, program and maps live and die together.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define CONFIG_CONFIGURED 1u
#define ARPHRD_ETHER 1

/* The fixed part of an ARP header (linux/if_arp.h would pull in libc headers). */
struct arphdr {
	__be16 ar_hrd;
	__be16 ar_pro;
	__u8 ar_hln;
	__u8 ar_pln;
	__be16 ar_op;
};

/* titus_config[0]; 32 bytes. */
struct filter_config {
	__u32 flags;           /* CONFIG_CONFIGURED once userspace wrote it */
	__u32 priority;        /* skb->priority for passing frames (TC_H_MAKE(major << 16, minor)) */
	__u32 metadata_ipv4;   /* network byte order */
	__u16 proxy_port;      /* host byte order; 0: nothing to the metadata addresses passes */
	__u16 reserved;
	__u8 metadata_ipv6[16];
};

/* Indexes into titus_stats (packets, per CPU). */
enum {
	STAT_PASSED = 0,
	STAT_SPOOFED_IPV4,
	STAT_SPOOFED_IPV6,
	STAT_SPOOFED_ARP,
	STAT_METADATA_DROPPED,
	STAT_METADATA_PROXIED,
	STAT_OTHER_PROTOCOL,
	STAT_MALFORMED,
	STAT_UNCONFIGURED,
	STAT_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_config);
} titus_config SEC(".maps");

/* The task's IPv4 addresses (network byte order) -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} titus_allow4 SEC(".maps");

/* The task's IPv6 addresses -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct in6_addr);
	__type(value, __u8);
} titus_allow6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} titus_stats SEC(".maps");

/* Enough for Ethernet + IPv4 with options + the TCP ports. */
#define HEADROOM (ETH_HLEN + 60 + 4)

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&titus_stats, &index);
	if (value)
		*value += 1; /* per CPU: no other writer */
}

static __always_inline int drop(__u32 index)
{
	count(index);
	return TC_ACT_SHOT;
}

static __always_inline int ipv6_equal(const struct in6_addr *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a;
	const __u32 *y = (const __u32 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* fe80::/10 or :: (the source of duplicate address detection probes). */
static __always_inline int ipv6_link_local_or_unspecified(const struct in6_addr *a)
{
	const __u32 *w = (const __u32 *)a;
	if ((w[0] & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000))
		return 1;
	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

/* 1 when the TCP header at l4 exists and goes to the proxy port. */
static __always_inline int tcp_to_port(void *l4, void *data_end, __u16 port)
{
	struct tcphdr *tcp = l4;
	if ((void *)tcp + 4 > data_end) /* the ports are enough */
		return 0;
	return port != 0 && tcp->dest == bpf_htons(port);
}

static __always_inline int check_ipv4(struct __sk_buff *skb, const struct filter_config *cfg)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
		return drop(STAT_MALFORMED);
	__u32 saddr = ip->saddr;
	if (!bpf_map_lookup_elem(&titus_allow4, &saddr))
		return drop(STAT_SPOOFED_IPV4);
	if (ip->daddr == cfg->metadata_ipv4) {
		/* Only what the proxy's redirect takes: TCP to the proxy port, not a fragment. */
		if (ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x3fff)) != 0)
			return drop(STAT_METADATA_DROPPED);
		void *l4 = (void *)ip + ip->ihl * 4;
		if (!tcp_to_port(l4, data_end, cfg->proxy_port))
			return drop(STAT_METADATA_DROPPED);
		count(STAT_METADATA_PROXIED);
	}
	return TC_ACT_UNSPEC;
}

static __always_inline int ipv6_neighbour_or_mld(struct ipv6hdr *ip, void *data_end)
{
	void *l4 = ip + 1;
	__u8 next = ip->nexthdr;

	/* MLD reports carry one hop-by-hop header (router alert) first. */
	if (next == IPPROTO_HOPOPTS) {
		struct ipv6_opt_hdr *hop = l4;
		if ((void *)(hop + 1) > data_end)
			return 0;
		next = hop->nexthdr;
		l4 += (hop->hdrlen + 1) * 8;
	}
	if (next != IPPROTO_ICMPV6)
		return 0;
	struct icmp6hdr *icmp = l4;
	if ((void *)(icmp + 1) > data_end)
		return 0;
	switch (icmp->icmp6_type) {
	case 133: /* router solicitation */
	case 135: /* neighbour solicitation */
	case 136: /* neighbour advertisement */
		return 1;
	case 130: /* MLD query, report, done; MLDv2 report: multicast destinations only */
	case 131:
	case 132:
	case 143:
		return ip->daddr.in6_u.u6_addr8[0] == 0xff;
	default:
		return 0;
	}
}

static __always_inline int check_ipv6(struct __sk_buff *skb, const struct filter_config *cfg)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end || ip->version != 6)
		return drop(STAT_MALFORMED);
	struct in6_addr saddr = ip->saddr;
	if (!bpf_map_lookup_elem(&titus_allow6, &saddr)) {
		if (ipv6_link_local_or_unspecified(&saddr) && ipv6_neighbour_or_mld(ip, data_end))
			return TC_ACT_UNSPEC;
		return drop(STAT_SPOOFED_IPV6);
	}
	if (ipv6_equal(&ip->daddr, cfg->metadata_ipv6)) {
		/* Extension headers could hide the real protocol: only plain TCP to the proxy port. */
		if (ip->nexthdr != IPPROTO_TCP || !tcp_to_port(ip + 1, data_end, cfg->proxy_port))
			return drop(STAT_METADATA_DROPPED);
		count(STAT_METADATA_PROXIED);
	}
	return TC_ACT_UNSPEC;
}

static __always_inline int check_arp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct arphdr *arp = data + ETH_HLEN;
	/* Ethernet/IPv4 ARP: sender MAC (6), sender IP (4), target MAC (6), target IP (4). */
	__u8 *sender_ip = (__u8 *)(arp + 1) + ETH_ALEN;

	if ((void *)(sender_ip + 4) > data_end)
		return drop(STAT_MALFORMED);
	if (arp->ar_hrd != bpf_htons(ARPHRD_ETHER) || arp->ar_pro != bpf_htons(ETH_P_IP) || arp->ar_hln != ETH_ALEN ||
	    arp->ar_pln != 4)
		return drop(STAT_OTHER_PROTOCOL);
	__u32 spa;
	__builtin_memcpy(&spa, sender_ip, 4);
	if (spa != 0 && !bpf_map_lookup_elem(&titus_allow4, &spa))
		return drop(STAT_SPOOFED_ARP);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int titus_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&titus_config, &zero);
	if (!cfg || !(cfg->flags & CONFIG_CONFIGURED))
		return drop(STAT_UNCONFIGURED);
	if (skb->vlan_present)
		return drop(STAT_OTHER_PROTOCOL);

	/* Headers normally sit in the linear part; pull them there when they do not. */
	if ((void *)(long)skb->data + HEADROOM > (void *)(long)skb->data_end)
		bpf_skb_pull_data(skb, skb->len < HEADROOM ? skb->len : HEADROOM);

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return drop(STAT_MALFORMED);

	int verdict;
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		verdict = check_ipv4(skb, cfg);
		break;
	case bpf_htons(ETH_P_IPV6):
		verdict = check_ipv6(skb, cfg);
		break;
	case bpf_htons(ETH_P_ARP):
		verdict = check_arp(skb);
		break;
	default:
		return drop(STAT_OTHER_PROTOCOL);
	}
	if (verdict != TC_ACT_UNSPEC)
		return verdict;
	/* The HTB class on the bandwidth shaping's IFB (HTB takes skb->priority
	 * as a class id when it names one of its classes). */
	skb->priority = cfg->priority;
	count(STAT_PASSED);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
