/*
 * packet: packet sockets (AF_PACKET), as a capture tool or a DHCP client holds them.
 *
 * A raw socket for every protocol (ETH_P_ALL) bound to lo, with TPACKET_V2, a reserve, auxdata, origdev, loss,
 * a timestamp source, a copy threshold, and a multicast membership on lo (01:00:5e:7f:00:42); an unbound datagram socket for IPv4
 * (ETH_P_IP), non-blocking. Verdict (SIGUSR2): every option, the type, protocol and interface read back as set; lo
 * has the group again in /proc/net/dev_mcast (the membership came back: the kernel drops it when the socket goes); and the raw socket sees a
 * UDP datagram sent to 127.0.0.1 on lo (it is live, bound where it was). Needs CAP_NET_RAW and lo up (the native
 * sandbox has both).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESERVE 64
#define THRESH 7

static const unsigned char GROUP[6] = {0x01, 0x00, 0x5e, 0x7f, 0x00, 0x42};

/* Whether lo has the fixture's multicast address (the kernel drops it when the membership's socket goes). */
static int lo_has_group(void)
{
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/net/dev_mcast", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " lo ") && strstr(line, "01005e7f0042"))
			found = 1;
	fclose(f);
	return found;
}

static int opt(int s, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(s, SOL_PACKET, name, &v, &l))
		return -1000 - errno;
	return v;
}

static void set(int s, int name, int v)
{
	if (setsockopt(s, SOL_PACKET, name, &v, sizeof(v)))
		fx_fail("setsockopt(SOL_PACKET, %d): %s", name, strerror(errno));
}

int main(void)
{
	unsigned lo = if_nametoindex("lo");
	struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)lo};
	struct packet_mreq mr = {.mr_ifindex = (int)lo, .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6};
	int raw, dgram;

	fx_init("packet");
	if (!lo)
		fx_fail("no lo");
	memcpy(mr.mr_address, GROUP, 6);
	raw = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (raw < 0)
		fx_fail("socket(AF_PACKET): %s", strerror(errno));
	set(raw, PACKET_VERSION, TPACKET_V2);
	set(raw, PACKET_RESERVE, RESERVE);
	set(raw, PACKET_AUXDATA, 1);
	set(raw, PACKET_ORIGDEV, 1);
	set(raw, PACKET_LOSS, 1);
	set(raw, PACKET_TIMESTAMP, SOF_TIMESTAMPING_RAW_HARDWARE);
	set(raw, PACKET_COPY_THRESH, THRESH);
	if (bind(raw, (struct sockaddr *)&a, sizeof(a)))
		fx_fail("bind to lo: %s", strerror(errno));
	if (setsockopt(raw, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		fx_fail("PACKET_ADD_MEMBERSHIP: %s", strerror(errno));
	dgram = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_IP));
	if (dgram < 0)
		fx_fail("socket(AF_PACKET, SOCK_DGRAM): %s", strerror(errno));
	if (!lo_has_group())
		fx_fail("lo has not the group 01:00:5e:7f:00:42 after the membership");

	fx_ready();
	fx_wait_verify();

	int v;
	if ((v = opt(raw, PACKET_VERSION)) != TPACKET_V2)
		fx_note_failure("PACKET_VERSION is %d", v);
	if ((v = opt(raw, PACKET_RESERVE)) != RESERVE)
		fx_note_failure("PACKET_RESERVE is %d", v);
	if ((v = opt(raw, PACKET_AUXDATA)) != 1)
		fx_note_failure("PACKET_AUXDATA is %d", v);
	if ((v = opt(raw, PACKET_ORIGDEV)) != 1)
		fx_note_failure("PACKET_ORIGDEV is %d", v);
	if ((v = opt(raw, PACKET_LOSS)) != 1)
		fx_note_failure("PACKET_LOSS is %d", v);
	if ((v = opt(raw, PACKET_TIMESTAMP)) != SOF_TIMESTAMPING_RAW_HARDWARE)
		fx_note_failure("PACKET_TIMESTAMP is %d", v);
	if ((v = opt(dgram, PACKET_VERSION)) != TPACKET_V1)
		fx_note_failure("the dgram socket's PACKET_VERSION is %d", v);

	int type = -1;
	socklen_t tl = sizeof(type);
	struct sockaddr_ll got;
	socklen_t gl = sizeof(got);
	if (getsockopt(raw, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_RAW)
		fx_note_failure("the raw socket's type is %d", type);
	if (getsockname(raw, (struct sockaddr *)&got, &gl) || got.sll_ifindex != (int)lo
	    || got.sll_protocol != htons(ETH_P_ALL))
		fx_note_failure("the raw socket is bound to ifindex %d protocol %#x", got.sll_ifindex, ntohs(got.sll_protocol));
	tl = sizeof(type);
	gl = sizeof(got);
	if (getsockopt(dgram, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_DGRAM)
		fx_note_failure("the dgram socket's type is %d", type);
	if (getsockname(dgram, (struct sockaddr *)&got, &gl) || got.sll_ifindex != 0
	    || got.sll_protocol != htons(ETH_P_IP))
		fx_note_failure("the dgram socket is at ifindex %d protocol %#x", got.sll_ifindex, ntohs(got.sll_protocol));
	if (!(fcntl(dgram, F_GETFL) & O_NONBLOCK))
		fx_note_failure("the dgram socket lost O_NONBLOCK");
	if (!lo_has_group())
		fx_note_failure("lo has not the group 01:00:5e:7f:00:42: the membership did not come back");

	/* live: a datagram on lo reaches the raw socket (drain what waited first) */
	char buf[2048];
	while (recv(raw, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (u < 0 || sendto(u, "packet-fixture", 14, 0, (struct sockaddr *)&to, sizeof(to)) != 14)
		fx_note_failure("sendto 127.0.0.1: %s", strerror(errno));
	int seen = 0;
	for (int i = 0; i < 100 && !seen; i++) {
		struct pollfd p = {.fd = raw, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(raw, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 14 && memmem(buf, (size_t)n, "packet-fixture", 14))
			seen = 1;
	}
	if (!seen)
		fx_note_failure("the raw socket saw no datagram sent on lo");
	fx_finish();
}
