/*
 * unix-seqpacket: SOCK_SEQPACKET unix sockets, a socketpair and a listener with a connection it accepted,
 * each with records queued both ways while dumped.
 *
 * The pair holds three records one way (1, 3000 and 7 bytes, the long one crossing any page) and two the
 * other; the listener (bound to a path) has accepted one client, which holds two records from the server side
 * and the server side one from the client.
 * Verdict: every record arrives once, in order, with its length (a read with a large buffer returns exactly
 * one record, MSG_TRUNC never shows); the sockets stay SOCK_SEQPACKET, the accepted
 * one still connected to the client; both connections carry new records; the listener accepts a new client.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static unsigned char big[3000];

static void put(int fd, const void *b, size_t len)
{
	if (send(fd, b, len, MSG_DONTWAIT | MSG_EOR) != (ssize_t)len)
		fx_fail("cannot queue a record of %zu bytes: %s", len, strerror(errno));
}

static void expect(int fd, const void *want, size_t len, const char *what)
{
	unsigned char b[8192];
	struct iovec io = { .iov_base = b, .iov_len = sizeof(b) };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1 };
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);

	if (n < 0)
		fx_fail("%s: no record (%s)", what, strerror(errno));
	if ((size_t)n != len || memcmp(b, want, len) != 0)
		fx_fail("%s: a record of %zd bytes, wanted %zu (boundaries lost or bytes differ)", what, n, len);
	if (m.msg_flags & MSG_TRUNC)
		fx_fail("%s: truncated", what);
}

static void nothing_left(int fd, const char *what)
{
	char b[8];

	if (recv(fd, b, sizeof(b), MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fx_fail("%s: more records than were sent", what);
}

static void is_seqpacket(int fd, const char *what)
{
	int type = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_SEQPACKET)
		fx_fail("%s: socket type %d, not SOCK_SEQPACKET", what, type);
}

int main(void)
{
	int sp[2];
	unsigned long long s = 5;
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	fx_init("unix-seqpacket");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)fx_rand(&s);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp))
		fx_fail("socketpair: %s", strerror(errno));
	put(sp[0], "a", 1);
	put(sp[0], big, sizeof(big));
	put(sp[0], "seventh", 7);
	put(sp[1], "back-1", 6);
	put(sp[1], "back-22", 7);

	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/cryo-seqpacket-%d", getpid());
	unlink(a.sun_path);
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8))
		fx_fail("listener: %s", strerror(errno));
	int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		fx_fail("connect: %s", strerror(errno));
	int srv = accept(l, NULL, NULL);
	if (srv < 0)
		fx_fail("accept: %s", strerror(errno));
	put(srv, "hello-client", 12);
	put(srv, big, 1500);
	put(c, "hello-server", 12);

	fx_ready();
	fx_wait_verify();
	is_seqpacket(sp[0], "pair, first end");
	is_seqpacket(l, "listener");
	is_seqpacket(srv, "accepted");
	expect(sp[1], "a", 1, "pair record 1");
	expect(sp[1], big, sizeof(big), "pair record 2");
	expect(sp[1], "seventh", 7, "pair record 3");
	nothing_left(sp[1], "pair");
	expect(sp[0], "back-1", 6, "pair record back 1");
	expect(sp[0], "back-22", 7, "pair record back 2");
	nothing_left(sp[0], "pair back");
	expect(c, "hello-client", 12, "accepted to client 1");
	expect(c, big, 1500, "accepted to client 2");
	nothing_left(c, "client");
	expect(srv, "hello-server", 12, "client to accepted");
	nothing_left(srv, "accepted");

	put(sp[0], "new", 3);
	expect(sp[1], "new", 3, "pair after the restore");
	put(c, "again", 5);
	expect(srv, "again", 5, "connection after the restore");
	int c2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (c2 < 0 || connect(c2, (struct sockaddr *)&a, sizeof(a)))
		fx_fail("the listener takes no new client: %s", strerror(errno));
	int s2 = accept(l, NULL, NULL);
	if (s2 < 0)
		fx_fail("accept after the restore: %s", strerror(errno));
	put(s2, "fresh", 5);
	expect(c2, "fresh", 5, "new connection");
	unlink(a.sun_path);
	fx_pass();
}
