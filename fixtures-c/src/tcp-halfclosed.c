/*
 * tcp-halfclosed: TCP connections over loopback, one IPv4 and one IPv6, each half-closed: the child (the client)
 * sent "hello" and shut down its writing (FIN_WAIT2), the parent (the server) sent "world!" back and has read
 * nothing yet (CLOSE_WAIT). Dumped with --tcp-established.
 *
 * Verdict (SIGUSR2 to the parent): both sockets are still in those states; the server reads "hello" and then the
 * end of the stream; the client reads "world!" and no end (the server has not shut down), and its own writes fail
 * with EPIPE; then the server writes "late" and shuts down, and the client reads "late" and then the end. A restore
 * that rebuilds the connections as established ones leaves the server waiting for an end that never comes.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCONN 2

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}

/* Reads what comes within ms milliseconds of quiet into buf; returns the count, *eof set at the end of stream. */
static int drain(int fd, char *buf, int max, int ms, int *eof)
{
	int got = 0;

	*eof = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return got;
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*eof = n == 0;
			return got;
		}
		got += (int)n;
		if (got == max)
			return got;
	}
}

static void put(int fd, char c)
{
	while (write(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static char take(int fd)
{
	char c = 0;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	return c;
}

/* The child's side, after the restore: each client reads "world!" and no end, fails to write, then reads "late"
   and the end once the parent says it wrote them. Exit status: 0, or the step that failed. */
static int client_checks(const int *c, int go, int done)
{
	char buf[64];
	int eof;

	if (take(go) != 'v')
		return 10;
	for (int i = 0; i < NCONN; i++) {
		if (state(c[i]) != TCP_FIN_WAIT2)
			return 11 + 10 * i;
		if (drain(c[i], buf, sizeof(buf), 300, &eof) != 6 || memcmp(buf, "world!", 6) || eof)
			return 12 + 10 * i;
		if (send(c[i], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != -1 || errno != EPIPE)
			return 13 + 10 * i;
	}
	put(done, 'r');
	if (take(go) != 'l')
		return 30;
	for (int i = 0; i < NCONN; i++)
		if (drain(c[i], buf, sizeof(buf), 5000, &eof) != 4 || memcmp(buf, "late", 4) || !eof)
			return 31 + 10 * i;
	return 0;
}

int main(int argc, char **argv)
{
	int listener[NCONN], c[NCONN], s[NCONN], go[2], done[2], status, one = 1;
	char buf[64];
	pid_t kid;

	(void)argc;
	(void)argv;
	fx_init("tcp-halfclosed");
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NCONN; i++) {
		struct sockaddr_storage a = {0};
		socklen_t alen;

		if (i == 0) {
			struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
			v4->sin_family = AF_INET;
			v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			alen = sizeof(*v4);
		} else {
			struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
			v6->sin6_family = AF_INET6;
			v6->sin6_addr = in6addr_loopback;
			alen = sizeof(*v6);
		}
		listener[i] = socket(a.ss_family, SOCK_STREAM, 0);
		setsockopt(listener[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (listener[i] < 0 || bind(listener[i], (struct sockaddr *)&a, alen) < 0 || listen(listener[i], 1) < 0
		    || getsockname(listener[i], (struct sockaddr *)&a, &alen) < 0)
			fx_fail("cannot listen on loopback (family %d): %s", a.ss_family, strerror(errno));
		c[i] = socket(a.ss_family, SOCK_STREAM, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&a, alen) < 0)
			fx_fail("cannot connect over loopback: %s", strerror(errno));
		s[i] = accept(listener[i], NULL, NULL);
		if (s[i] < 0)
			fx_fail("cannot accept: %s", strerror(errno));
		close(listener[i]);
	}
	if (pipe(go) < 0 || pipe(done) < 0)
		fx_fail("cannot make pipes");
	kid = fork();
	if (kid < 0)
		fx_fail("cannot fork");
	if (kid == 0) {
		for (int i = 0; i < NCONN; i++) {
			close(s[i]);
			if (write(c[i], "hello", 5) != 5 || shutdown(c[i], SHUT_WR) < 0)
				_exit(2);
		}
		put(done[1], 's');
		_exit(client_checks(c, go[0], done[1]));
	}
	for (int i = 0; i < NCONN; i++) {
		close(c[i]);
		if (write(s[i], "world!", 6) != 6)
			fx_fail("cannot write to the client: %s", strerror(errno));
	}
	if (take(done[0]) != 's')
		fx_fail("the client did not shut down");
	for (int i = 0; i < NCONN; i++)
		for (int tries = 0; state(s[i]) != TCP_CLOSE_WAIT; tries++) {
			if (tries == 200)
				fx_fail("the server's socket %d is in state %d, not CLOSE_WAIT", i, state(s[i]));
			usleep(10000);
		}
	fx_ready();
	fx_wait_verify();
	for (int i = 0; i < NCONN; i++) {
		int eof;

		if (state(s[i]) != TCP_CLOSE_WAIT)
			fx_fail("connection %d: the server's socket is in state %d after the restore, not CLOSE_WAIT", i,
				state(s[i]));
		int n = drain(s[i], buf, sizeof(buf), 5000, &eof);
		if (n != 5 || memcmp(buf, "hello", 5))
			fx_fail("connection %d: the server read %d bytes, not \"hello\"", i, n);
		if (!eof)
			fx_fail("connection %d: the server read no end of stream after \"hello\" (the client's FIN is lost)", i);
	}
	put(go[1], 'v');
	if (take(done[0]) != 'r') {
		waitpid(kid, &status, 0);
		fx_fail("the client's checks failed at step %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	for (int i = 0; i < NCONN; i++)
		if (write(s[i], "late", 4) != 4 || shutdown(s[i], SHUT_WR) < 0)
			fx_fail("connection %d: the server cannot write and shut down: %s", i, strerror(errno));
	put(go[1], 'l');
	if (waitpid(kid, &status, 0) != kid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fx_fail("the client's checks failed at step %d (status %#x)",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
	fx_pass();
}
