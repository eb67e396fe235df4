/*
 * netlink: netlink sockets as programs keep them. "route": NETLINK_ROUTE bound by the kernel (port id chosen
 * at bind) and joined to RTMGRP_LINK and to group 33 (past the 32 of the bind mask); "fixed": bound to port id
 * 0x7fff1234 by hand, non-blocking; "plain": never bound (as getaddrinfo leaves one).
 * Verdict: port ids, groups and flags are kept, and "plain" still answers an RTM_GETLINK dump.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned port(int fd)
{
	struct sockaddr_nl a;
	socklen_t len = sizeof(a);

	memset(&a, 0, sizeof(a));
	if (getsockname(fd, (struct sockaddr *)&a, &len))
		return 0;
	return a.nl_pid;
}

static unsigned groups(int fd, unsigned word)
{
	unsigned g[8] = {0};
	socklen_t len = sizeof(g);

	if (getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &len))
		return 0xdeadbeef;
	return g[word];
}

int main(void)
{
	fx_init("netlink");
	int route = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int fixed = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_ROUTE);
	int plain = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (route < 0 || fixed < 0 || plain < 0)
		fx_fail("socket: %s", strerror(errno));
	struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	if (bind(route, (struct sockaddr *)&a, sizeof(a)))
		fx_fail("bind route: %s", strerror(errno));
	int g33 = 33;
	if (setsockopt(route, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g33, sizeof(g33)))
		fx_fail("NETLINK_ADD_MEMBERSHIP: %s", strerror(errno));
	a = (struct sockaddr_nl){.nl_family = AF_NETLINK, .nl_pid = 0x7fff1234};
	if (bind(fixed, (struct sockaddr *)&a, sizeof(a)))
		fx_fail("bind fixed: %s", strerror(errno));
	unsigned route_port = port(route), g0 = groups(route, 0), g1 = groups(route, 1);

	fx_ready();
	fx_wait_verify();

	if (port(route) != route_port)
		fx_note_failure("route: port id %u, expected %u", port(route), route_port);
	if (groups(route, 0) != g0 || groups(route, 1) != g1)
		fx_note_failure("route: groups %#x %#x, expected %#x %#x", groups(route, 0), groups(route, 1), g0, g1);
	if (port(fixed) != 0x7fff1234)
		fx_note_failure("fixed: port id %#x, expected 0x7fff1234", port(fixed));
	if (!(fcntl(fixed, F_GETFL) & O_NONBLOCK) || !(fcntl(route, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("flags not kept");
	int proto = -1;
	socklen_t len = sizeof(proto);
	if (getsockopt(plain, SOL_SOCKET, SO_PROTOCOL, &proto, &len) || proto != NETLINK_ROUTE)
		fx_note_failure("plain: protocol %d, expected NETLINK_ROUTE", proto);
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
	} req = {.h = {.nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		       .nlmsg_seq = 1},
		 .g = {.rtgen_family = AF_UNSPEC}};
	if (send(plain, &req, sizeof(req), 0) != sizeof(req))
		fx_note_failure("plain: send: %s", strerror(errno));
	else {
		char buf[16384];
		ssize_t n = recv(plain, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		if (n < (ssize_t)sizeof(*h) || (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != NLMSG_DONE))
			fx_note_failure("plain: no RTM_GETLINK answer (%zd bytes, type %d)", n, n > 0 ? h->nlmsg_type : -1);
	}
	fx_finish();
}
