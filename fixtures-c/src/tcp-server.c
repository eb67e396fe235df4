/*
 * tcp-server: echoes on a loopback TCP connection (127.0.0.1 only).
 *
 * Listens on 127.0.0.1:--port (default 47001), accepts one connection, echoes every byte back.
 * With --ready (the default when run alone) it writes the ready marker once a client is connected;
 * under tcp-client --spawn-server it leaves that to the client.
 * Verdict: on SIGUSR2, or at end of stream: PASS when no read or write failed.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = (int)fx_opt_long(argc, argv, "port", 47001);
	int announce = (int)fx_opt_long(argc, argv, "ready", 1);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, lfd, cfd;
	char buf[4096];

	fx_init("tcp-server");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0)
		fx_fail("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
	while ((cfd = accept(lfd, NULL, NULL)) < 0)
		if (errno != EINTR || fx_verify_requested())
			fx_fail("accept on 127.0.0.1:%d failed: %s", port, strerror(errno));
	if (announce)
		fx_ready();
	while (!fx_verify_requested()) {
		ssize_t n = read(cfd, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fx_fail("read from the client failed: %s", strerror(errno));
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(cfd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				fx_fail("echo to the client failed: %s", strerror(errno));
			off += w;
		}
	}
	fx_pass();
}
