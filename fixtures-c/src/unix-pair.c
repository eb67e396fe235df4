/*
 * unix-pair: unix socketpairs with data queued both ways while dumped, one carrying a pipe's fd (SCM_RIGHTS).
 *
 * A stream pair holds "ping" for one end and "pong" for the other; a datagram pair holds three datagrams
 * one way and two the other; a third pair holds a message with the read end of a pipe (holding bytes).
 * The fixture then waits for the verdict without touching them.
 * Verdict: every queued byte and datagram arrives once, in order, with its boundaries; the passed fd is
 * the pipe with its bytes; both pairs still carry new data.
 *
 * --tree=1: the third pair's far end is a child's, and the passed read end is held by the sender only (the
 * child closed its own copy before the message was sent): a file in flight that only another task of the tree
 * holds. On the verdict the parent writes more into the pipe, then asks the child, which receives the fd and
 * must read the pipe's bytes and those written after the restore through it (one pipe, not a copy).
 * --close=1: the sender closes its copy once the message is sent: only the queue holds the read end.
 * --pass=sock: the "pipe" is a unix stream pair, the passed end a socket with the bytes queued in it, connected
 * to the end the sender keeps.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void put(int fd, const char *s)
{
	if (send(fd, s, strlen(s), MSG_DONTWAIT) != (ssize_t)strlen(s))
		fx_fail("cannot queue '%s': %s", s, strerror(errno));
}

static void expect(int fd, const char *s, const char *what)
{
	char b[256] = { 0 };
	ssize_t n = recv(fd, b, sizeof(b) - 1, MSG_DONTWAIT);

	if (n != (ssize_t)strlen(s) || memcmp(b, s, (size_t)n) != 0)
		fx_fail("%s: got %zd bytes '%s', wanted '%s'%s%s", what, n, n > 0 ? b : "", s, n < 0 ? ": " : "",
			n < 0 ? strerror(errno) : "");
}

/* The child of --tree=1: receives the passed read end once asked, and reads both writes through it. */
static void __attribute__((noreturn)) receiver(int sock)
{
	char c[CMSG_SPACE(sizeof(int))], b[8] = { 0 }, got[32] = { 0 };
	struct iovec io = { .iov_base = b, .iov_len = sizeof(b) };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c) };
	struct cmsghdr *h;
	int fd;
	size_t n = 0;

	while (!fx_verify_requested())
		fx_sleep_ms(50);
	if (recvmsg(sock, &m, MSG_DONTWAIT) != 2 || !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "unix-pair: the child got no passed fd: %s\n", strerror(errno));
		_exit(1);
	}
	memcpy(&fd, CMSG_DATA(h), sizeof(int));
	while (n < 15) {
		ssize_t r = read(fd, got + n, 15 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (strcmp(got, "in-the-pipemore") != 0) {
		fprintf(stderr, "unix-pair: the passed fd reads '%s', not 'in-the-pipemore'\n", got);
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int st[2], dg[2], rp[2], pp[2];
	int tree = (int)fx_opt_long(argc, argv, "tree", 0);
	int closed = (int)fx_opt_long(argc, argv, "close", 0);
	int sock = strcmp(fx_opt_str(argc, argv, "pass", "pipe"), "sock") == 0;
	pid_t kid = 0;

	fx_init("unix-pair");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, rp) || (sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, pp) : pipe(pp)))
		fx_fail("socketpair: %s", strerror(errno));
	put(st[0], "ping");
	put(st[1], "pong");
	put(dg[0], "d1");
	put(dg[0], "d22");
	put(dg[0], "d333");
	put(dg[1], "u1");
	put(dg[1], "u22");
	if (write(pp[1], "in-the-pipe", 11) != 11)
		fx_fail("pipe write: %s", strerror(errno));
	if (tree) {
		int gone[2];

		if (pipe(gone))
			fx_fail("pipe: %s", strerror(errno));
		kid = fork();
		if (kid < 0)
			fx_fail("fork: %s", strerror(errno));
		if (kid == 0) {
			close(pp[0]);
			close(pp[1]);
			close(rp[0]);
			close(gone[0]);
			close(gone[1]); /* its copies are closed: the parent may send */
			receiver(rp[1]);
		}
		close(rp[1]);
		close(gone[1]);
		{
			char x;

			if (read(gone[0], &x, 1) != 0)
				fx_fail("the child did not close its copies");
		}
		close(gone[0]);
	}
	{
		char c[CMSG_SPACE(sizeof(int))];
		struct iovec io = { .iov_base = "fd", .iov_len = 2 };
		struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c) };
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);

		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &pp[0], sizeof(int));
		if (sendmsg(rp[0], &m, 0) != 2)
			fx_fail("sendmsg: %s", strerror(errno));
	}
	if (closed)
		close(pp[0]); /* the queue holds the only reference to the read end */
	fx_ready();
	fx_wait_verify();
	if (tree) {
		if (write(pp[1], "more", 4) != 4)
			fx_fail("pipe write after the restore: %s", strerror(errno));
		if (!fx_children_passed(&kid, 1))
			fx_fail("the child did not read the pipe through the fd passed to it");
	}
	expect(st[1], "ping", "stream pair, first end to second");
	expect(st[0], "pong", "stream pair, second end to first");
	expect(dg[1], "d1", "datagram 1");
	expect(dg[1], "d22", "datagram 2");
	expect(dg[1], "d333", "datagram 3");
	expect(dg[0], "u1", "datagram back 1");
	expect(dg[0], "u22", "datagram back 2");
	{
		char c[CMSG_SPACE(sizeof(int))], b[8] = { 0 }, got[16] = { 0 };
		struct iovec io = { .iov_base = b, .iov_len = sizeof(b) };
		struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof(c) };
		struct cmsghdr *h;
		int fd;

		if (tree)
			goto passed;
		if (recvmsg(rp[1], &m, MSG_DONTWAIT) != 2 || !(h = CMSG_FIRSTHDR(&m)) || h->cmsg_type != SCM_RIGHTS)
			fx_fail("the message with a passed fd did not come back: %s", strerror(errno));
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
		if (read(fd, got, 11) != 11 || strcmp(got, "in-the-pipe") != 0)
			fx_fail("the passed fd reads '%s', not the pipe's bytes", got);
	}
passed:
	put(st[0], "more");
	expect(st[1], "more", "stream pair after the restore");
	put(dg[1], "again");
	expect(dg[0], "again", "datagram pair after the restore");
	fx_pass();
}
