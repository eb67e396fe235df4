/*
 * tcp-client: counts over a loopback TCP connection (127.0.0.1 only) and checks every echo.
 *
 * Connects to 127.0.0.1:--port (default 47001) and every --step-ms (10) sends the next number
 * and reads its echo. With --spawn-server=PATH it first forks PATH (tcp-server) as its child, so
 * both ends of the connection are in one process tree.
 * Verdict: every echo was the number sent, and the connection still works after the verdict is asked.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	int port = (int)fx_opt_long(argc, argv, "port", 47001);
	long step_ms = fx_opt_long(argc, argv, "step-ms", 10);
	const char *server = fx_opt_str(argc, argv, "spawn-server", NULL);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	pid_t kid = -1;
	unsigned next = 0;
	int fd = -1;

	fx_init("tcp-client");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (server) {
		char portopt[32];

		snprintf(portopt, sizeof(portopt), "--port=%d", port);
		kid = fork();
		if (kid == 0) {
			/* the server child must not write the verdict or the ready marker: the client owns them */
			unsetenv("CRYO_FX_RESULT");
			unsetenv("CRYO_FX_READY");
			execl(server, server, portopt, "--ready=0", (char *)NULL);
			_exit(127);
		}
	}
	for (int attempt = 0; attempt < 500; attempt++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		close(fd);
		fd = -1;
		fx_sleep_ms(10);
	}
	if (fd < 0)
		fx_fail("cannot connect to 127.0.0.1:%d", port);
	fx_ready();
	while (!fx_verify_requested()) {
		if (exchange(fd, next++) < 0 && !fx_verify_requested())
			fx_fail("the connection broke at number %u: %s", next - 1, strerror(errno));
		fx_sleep_ms(step_ms);
	}
	if (exchange(fd, next++) < 0)
		fx_fail("the connection does not work after the restore: %s", strerror(errno));
	if (kid > 0) {
		int status;

		shutdown(fd, SHUT_WR);
		kill(kid, SIGUSR2);
		while (waitpid(kid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fx_fail("the server child failed (status %#x)", status);
	}
	fx_pass();
}
