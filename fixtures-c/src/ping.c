/*
 * ping: ICMP ping sockets (SOCK_DGRAM, IPPROTO_ICMP and IPPROTO_ICMPV6), as ping and monitoring agents hold them
 * without CAP_NET_RAW. "auto": IPv4, bound by the kernel at its first send (the echo identifier chosen then);
 * "fixed": IPv4, bound by hand to 127.0.0.1 with identifier 0x4a4b and connected to 127.0.0.1, non-blocking;
 * "six": IPv6 to ::1, bound at its first send. Each has had one echo answered before the dump, and nothing waits.
 * Verdict (SIGUSR2): each keeps its identifier, address and flags, and an echo request sent now is answered with
 * that identifier and the request's sequence number. Needs the sandbox's net.ipv4.ping_group_range to hold the
 * fixture's group (cryo-init opens it, as Docker does in a container) and lo up.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FIXED_ID 0x4a4b

struct pinger {
	const char *name;
	int fd, v6, connected;
	unsigned id;
};

static unsigned ident(struct pinger *p)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	memset(&a, 0, sizeof(a));
	if (getsockname(p->fd, (struct sockaddr *)&a, &len))
		return 0;
	return p->v6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port) : ntohs(((struct sockaddr_in *)&a)->sin_port);
}

/* One echo request with sequence seq, then its reply; returns an error text or NULL. */
static const char *echo(struct pinger *p, unsigned seq, unsigned *reply_id)
{
	static char why[160];
	unsigned char req[16] = {0}, buf[256];
	struct sockaddr_in to4 = {.sin_family = AF_INET};
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6};

	to4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to6.sin6_addr = in6addr_loopback;
	req[0] = p->v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	req[6] = seq >> 8;
	req[7] = seq & 0xff;
	memcpy(req + 8, "cryoping", 8);
	ssize_t n = p->connected ? send(p->fd, req, sizeof(req), 0)
		    : p->v6 ? sendto(p->fd, req, sizeof(req), 0, (struct sockaddr *)&to6, sizeof(to6))
			    : sendto(p->fd, req, sizeof(req), 0, (struct sockaddr *)&to4, sizeof(to4));
	if (n != (ssize_t)sizeof(req)) {
		snprintf(why, sizeof(why), "send: %s", n < 0 ? strerror(errno) : "short");
		return why;
	}
	for (;;) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int r = poll(&pfd, 1, 3000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return "no reply within 3 s";
		n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 8) {
			snprintf(why, sizeof(why), "recv: %s", n < 0 ? strerror(errno) : "short reply");
			return why;
		}
		if (buf[0] != (p->v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) || (unsigned)(buf[6] << 8 | buf[7]) != seq)
			continue; /* not the answer to this request */
		*reply_id = buf[4] << 8 | buf[5];
		return NULL;
	}
}

int main(void)
{
	struct pinger ps[3] = {{"auto", -1, 0, 0, 0}, {"fixed", -1, 0, 1, 0}, {"six", -1, 1, 0, 0}};
	unsigned reply_id;
	const char *why;

	fx_init("ping");
	ps[0].fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	ps[1].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
	ps[2].fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
	for (int i = 0; i < 3; i++)
		if (ps[i].fd < 0)
			fx_fail("%s: socket: %s (net.ipv4.ping_group_range must hold group %d)", ps[i].name,
				strerror(errno), (int)getegid());
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(FIXED_ID)};
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ps[1].fd, (struct sockaddr *)&lo, sizeof(lo)) || connect(ps[1].fd, (struct sockaddr *)&lo, sizeof(lo)))
		fx_fail("fixed: bind or connect: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		if ((why = echo(&ps[i], 1, &reply_id)))
			fx_fail("%s: before the dump: %s", ps[i].name, why);
		ps[i].id = ident(&ps[i]);
		if (ps[i].id == 0 || reply_id != ps[i].id)
			fx_fail("%s: identifier %#x, reply's %#x", ps[i].name, ps[i].id, reply_id);
	}
	if (ps[1].id != FIXED_ID)
		fx_fail("fixed: identifier %#x, bound to %#x", ps[1].id, FIXED_ID);

	fx_ready();
	fx_wait_verify();

	for (int i = 0; i < 3; i++) {
		unsigned now = ident(&ps[i]);
		if (now != ps[i].id) {
			fx_note_failure("%s: identifier %#x, was %#x", ps[i].name, now, ps[i].id);
			continue;
		}
		if ((why = echo(&ps[i], 2, &reply_id)))
			fx_note_failure("%s: after the restore: %s", ps[i].name, why);
		else if (reply_id != ps[i].id)
			fx_note_failure("%s: reply's identifier %#x, the socket's %#x", ps[i].name, reply_id, ps[i].id);
	}
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	if (getpeername(ps[1].fd, (struct sockaddr *)&peer, &len) || peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		fx_note_failure("fixed: no longer connected to 127.0.0.1");
	if (!(fcntl(ps[1].fd, F_GETFL) & O_NONBLOCK) || (fcntl(ps[0].fd, F_GETFL) & O_NONBLOCK))
		fx_note_failure("O_NONBLOCK not kept");
	fx_finish();
}
