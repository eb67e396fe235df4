/*
 * sock-stream: a network program whose far end is outside the dumped tree. It starts sock-peer (--peer=PATH)
 * detached, so the peer is no descendant of it, on loopback in the sandbox's namespace, and counts over it:
 *
 *   --role=tcp-client  connects to the peer's server on --port and sends 0, 1, 2, ..., checking each echo
 *   --role=tcp-server  listens on --port (keeping the listener), the peer connects and counts, it echoes
 *                      and checks that each number is the previous + 1
 *   --role=udp         sends numbered datagrams to the peer's echo on --port, resending one whose echo
 *                      does not come (a datagram queued at the dump may be dropped, as CRIU does)
 * --v6=1 uses [::1] for the TCP roles. --reconnect=1 (tcp-client): a broken connection is reconnected and
 * the number resent, so the count goes on (what a program restored with --tcp-close does); with
 * --expect-reconnect=1 the verdict requires that it happened. --print=1 prints each confirmed number on
 * its own line, so the harness sees the count go on.
 * Verdict: five more numbers go through after the verdict is asked, the peer saw no broken stream, and
 * a tcp-server's listener still takes a connection.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int v6, port, print;
static char fail_file[256];

static socklen_t loopback(struct sockaddr_in6 *a6, int six)
{
	memset(a6, 0, sizeof(*a6));
	if (six) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		a6->sin6_addr = in6addr_loopback;
		return sizeof(*a6);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)a6;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a);
}

/* Starts the peer so that it is not our descendant: fork, setsid, fork again, the middle one exits. */
static void spawn_peer(const char *peer, const char *mode)
{
	char m[64], p[32], six[16], ff[300];
	pid_t mid = fork();

	if (mid == 0) {
		setsid();
		if (fork() == 0) {
			unsetenv("CRYO_FX_RESULT");
			unsetenv("CRYO_FX_READY");
			snprintf(m, sizeof(m), "--mode=%s", mode);
			snprintf(p, sizeof(p), "--port=%d", port);
			snprintf(six, sizeof(six), "--v6=%d", v6);
			snprintf(ff, sizeof(ff), "--fail-file=%s", fail_file);
			for (int fd = 3; fd < 64; fd++)
				close(fd);
			execl(peer, peer, m, p, six, ff, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void check_peer(void)
{
	char why[512] = "";
	FILE *f = fopen(fail_file, "r");

	if (f) {
		if (!fgets(why, sizeof(why), f))
			strcpy(why, "(empty)");
		fclose(f);
		why[strcspn(why, "\n")] = 0;
		fx_fail("the peer saw a broken stream: %s", why);
	}
}

static void confirmed(unsigned n)
{
	if (print)
		printf("%u\n", n);
}

/* 0 on a good echo, -1 on a broken connection; fails the fixture on a wrong echo. */
static int exchange(int fd, unsigned value)
{
	unsigned echo;
	size_t got = 0;

	while (write(fd, &value, sizeof(value)) < 0)
		if (errno != EINTR)
			return -1;
	while (got < sizeof(echo)) {
		ssize_t n = read(fd, (char *)&echo + got, sizeof(echo) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (echo != value)
		fx_fail("sent %u, the echo was %u", value, echo);
	return 0;
}

static int connect_peer(void)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, v6);

	for (int attempt = 0; attempt < 500; attempt++) {
		int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&a, len) == 0)
			return fd;
		close(fd);
		fx_sleep_ms(10);
	}
	fx_fail("cannot connect to the peer on port %d", port);
}

static void tcp_client(long step_ms, int reconnect, int expect_reconnect)
{
	int fd = connect_peer(), reconnects = 0, after = 0;
	unsigned next = 0;

	fx_ready();
	while (!fx_verify_requested() || after < 5) {
		if (exchange(fd, next) < 0) {
			if (!reconnect)
				fx_fail("the connection broke at number %u: %s", next, strerror(errno));
			close(fd);
			fd = connect_peer();
			reconnects++;
			continue; /* the same number again */
		}
		confirmed(next++);
		if (fx_verify_requested())
			after++;
		else
			fx_sleep_ms(step_ms);
	}
	if (expect_reconnect && reconnects == 0)
		fx_fail("the connection never ended, though the restore was to close it");
	check_peer();
	fx_pass();
}

static void tcp_server(void)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, v6);
	int one = 1, l = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), c, after = 0, first = 1;
	unsigned v, last = 0;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, len) || listen(l, 4))
		fx_fail("cannot listen on port %d: %s", port, strerror(errno));
	while ((c = accept(l, NULL, NULL)) < 0)
		if (errno != EINTR)
			fx_fail("accept failed: %s", strerror(errno));
	fx_ready();
	while (after < 5) {
		size_t got = 0;

		while (got < sizeof(v)) {
			ssize_t n = read(c, (char *)&v + got, sizeof(v) - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fx_fail("the connection from the peer broke after %u: %s", last, n ? strerror(errno) : "end of stream");
			got += (size_t)n;
		}
		if (!first && v != last + 1)
			fx_fail("after %u came %u", last, v);
		first = 0;
		last = v;
		if (write(c, &v, sizeof(v)) != sizeof(v))
			fx_fail("echo failed: %s", strerror(errno));
		confirmed(v);
		if (fx_verify_requested())
			after++;
	}
	{
		/* the listener still takes connections */
		int t = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), u;

		if (connect(t, (struct sockaddr *)&a, len))
			fx_fail("the listener refuses a connection after the restore: %s", strerror(errno));
		u = accept(l, NULL, NULL);
		if (u < 0)
			fx_fail("the listener accepts nothing after the restore: %s", strerror(errno));
		close(u);
		close(t);
	}
	check_peer();
	fx_pass();
}

static void udp(long step_ms)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, 0);
	int s = socket(AF_INET, SOCK_DGRAM, 0), after = 0, misses = 0;
	unsigned next = 0, echo;

	if (connect(s, (struct sockaddr *)&a, len))
		fx_fail("cannot connect the udp socket: %s", strerror(errno));
	fx_ready();
	while (!fx_verify_requested() || after < 5) {
		int got = 0;

		send(s, &next, sizeof(next), 0);
		for (int wait = 0; wait < 4 && !got; wait++) {
			struct pollfd p = { .fd = s, .events = POLLIN };

			if (poll(&p, 1, 50) <= 0)
				continue; /* nothing yet, or interrupted */
			got = recv(s, &echo, sizeof(echo), MSG_DONTWAIT) == sizeof(echo) && echo == next;
		}
		if (!got) {
			if (++misses > 200)
				fx_fail("no echo for %u in 200 tries", next);
			continue; /* lost: send it again */
		}
		misses = 0;
		confirmed(next++);
		if (fx_verify_requested())
			after++;
		else
			fx_sleep_ms(step_ms);
	}
	check_peer();
	fx_pass();
}

int main(int argc, char **argv)
{
	const char *role = fx_opt_str(argc, argv, "role", "tcp-client");
	const char *peer = fx_opt_str(argc, argv, "peer", NULL);
	long step_ms = fx_opt_long(argc, argv, "step-ms", 10);

	fx_init("sock-stream");
	v6 = (int)fx_opt_long(argc, argv, "v6", 0);
	port = (int)fx_opt_long(argc, argv, "port", 47101);
	print = (int)fx_opt_long(argc, argv, "print", 0);
	if (print)
		setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(fail_file, sizeof(fail_file), "sock-peer-%d.fail", (int)getpid());
	if (!peer)
		fx_fail("--peer=PATH (sock-peer) is required");
	if (strcmp(role, "tcp-client") == 0) {
		spawn_peer(peer, "tcp-server");
		tcp_client(step_ms, (int)fx_opt_long(argc, argv, "reconnect", 0),
			   (int)fx_opt_long(argc, argv, "expect-reconnect", 0));
	} else if (strcmp(role, "tcp-server") == 0) {
		spawn_peer(peer, "tcp-client");
		tcp_server();
	} else if (strcmp(role, "udp") == 0) {
		spawn_peer(peer, "udp");
		udp(step_ms);
	}
	fx_fail("unknown role %s", role);
}
