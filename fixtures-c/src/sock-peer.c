/*
 * sock-peer: the harness's far end of a socket fixture, outside the dumped tree (the fixture starts it
 * detached, so it is no descendant of the dumped process), on loopback in the sandbox's namespace.
 *
 *   --mode=tcp-server --port=P [--v6=1]  accepts connections one after another and echoes 4-byte numbers;
 *                                        within a connection each number must be the previous one + 1
 *   --mode=tcp-client --port=P [--v6=1]  connects, sends 0, 1, 2, ... and checks every echo
 *   --mode=udp --port=P                  echoes every datagram to its sender
 * A broken stream (a wrong number, a wrong echo, a broken connection in client mode) is written to
 * --fail-file: the fixture reads it for its verdict. It never writes the fixture's verdict itself.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *fail_file;

static void peer_fail(const char *fmt, ...)
{
	FILE *f = fopen(fail_file, "a");
	va_list ap;

	if (f) {
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		fclose(f);
	}
	_exit(1);
}

static socklen_t loopback(struct sockaddr_in6 *a6, int v6, int port)
{
	memset(a6, 0, sizeof(*a6));
	if (v6) {
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

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void tcp_server(int v6, int port)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, v6, port);
	int one = 1, l = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, len) || listen(l, 4))
		peer_fail("peer cannot listen on port %d: %s", port, strerror(errno));
	for (;;) {
		int c = accept(l, NULL, NULL);
		unsigned v, last = 0;
		int first = 1;

		if (c < 0)
			continue;
		while (read_full(c, &v, sizeof(v)) == 0) {
			if (!first && v != last + 1)
				peer_fail("peer: after %u came %u on one connection", last, v);
			first = 0;
			last = v;
			if (write(c, &v, sizeof(v)) != sizeof(v))
				break;
		}
		close(c); /* the fixture closed or lost the connection: take the next one */
	}
}

static void tcp_client(int v6, int port)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, v6, port);
	int fd = -1;

	for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
		fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, len)) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	if (fd < 0)
		peer_fail("peer cannot connect to port %d", port);
	for (unsigned next = 0;; next++) {
		unsigned echo;

		if (write(fd, &next, sizeof(next)) != sizeof(next) || read_full(fd, &echo, sizeof(echo)))
			peer_fail("peer: the connection broke at %u: %s", next, strerror(errno));
		if (echo != next)
			peer_fail("peer: sent %u, the echo was %u", next, echo);
		usleep(5000);
	}
}

static void udp(int port)
{
	struct sockaddr_in6 a;
	socklen_t len = loopback(&a, 0, port);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[2048];

	if (bind(s, (struct sockaddr *)&a, len))
		peer_fail("peer cannot bind udp port %d: %s", port, strerror(errno));
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n >= 0)
			sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

int main(int argc, char **argv)
{
	const char *mode = fx_opt_str(argc, argv, "mode", "tcp-server");
	int port = (int)fx_opt_long(argc, argv, "port", 47101);
	int v6 = (int)fx_opt_long(argc, argv, "v6", 0);

	fail_file = fx_opt_str(argc, argv, "fail-file", "sock-peer.fail");
	if (strcmp(mode, "tcp-server") == 0)
		tcp_server(v6, port);
	else if (strcmp(mode, "tcp-client") == 0)
		tcp_client(v6, port);
	else if (strcmp(mode, "udp") == 0)
		udp(port);
	peer_fail("peer: unknown mode %s", mode);
}
