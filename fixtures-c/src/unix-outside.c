/*
 * unix-outside: a unix stream connection whose other end is outside the dumped tree.
 *
 * The fixture starts a peer detached from its tree (double fork), which listens on ./peer.sock and answers each
 * "ping N" line with "pong N" on whatever connection it has, taking a new one whenever one arrives. The fixture
 * connects to it, talks once, and writes the inode of its socket to ./ext-ino (the harness dumps with
 * --external unix[INO]). A restore must give the fixture, at the same fd number, a socket connected to the peer:
 * the harness restores with --inherit-fd fd[N]:socket:[INO] under this program's connect role, which connects to
 * ./peer.sock and runs the restore with that socket as its fd N.
 * Verdict: the fd is a connected unix stream socket and a ping through it gets its pong from the peer.
 *
 *   unix-outside                                    the fixture (its peer: unix-outside --role=peer)
 *   unix-outside --role=connect --path=P --fd=N -- PROGRAM ARGS...
 *                                                   connects to P, makes that socket fd N, runs PROGRAM
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH "peer.sock"

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	return s;
}

/* One line (without its newline) from fd, or -1 at EOF or on an error. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

static void peer(int ready)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	char line[128], reply[160];

	alarm(900); /* never outlives a run */
	unlink(PATH);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", PATH);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4))
		_exit(1);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		while (read_line(c, line, sizeof(line)) >= 0) {
			if (!strcmp(line, "bye")) {
				unlink(PATH);
				_exit(0);
			}
			if (!strncmp(line, "ping ", 5)) {
				int n = snprintf(reply, sizeof(reply), "pong %s\n", line + 5);
				if (write(c, reply, n) != n)
					break;
			}
		}
		close(c); /* the fixture's end went (its tree was dumped): the restored one connects anew */
	}
}

static int ping(int s, int n)
{
	char line[128], want[64];

	dprintf(s, "ping %d\n", n);
	snprintf(want, sizeof(want), "pong %d", n);
	return read_line(s, line, sizeof(line)) >= 0 && !strcmp(line, want);
}

static int run_connected(int argc, char **argv)
{
	const char *path = fx_opt_str(argc, argv, "path", PATH);
	int fd = (int)fx_opt_long(argc, argv, "fd", 7), i, s;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		;
	if (i + 1 >= argc) {
		fprintf(stderr, "unix-outside --role=connect: no program after --\n");
		return 2;
	}
	s = connect_to(path);
	if (s < 0 || dup2(s, fd) < 0) {
		fprintf(stderr, "unix-outside --role=connect: connect %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (s != fd)
		close(s);
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "unix-outside --role=connect: exec %s: %s\n", argv[i + 1], strerror(errno));
	return 2;
}

int main(int argc, char **argv)
{
	int p[2], s, type = 0;
	socklen_t len = sizeof(type);
	struct stat st;
	char c;
	pid_t kid;
	FILE *f;

	if (!strcmp(fx_opt_str(argc, argv, "role", "fixture"), "connect"))
		return run_connected(argc, argv);
	fx_init("unix-outside");
	if (pipe(p))
		fx_fail("pipe: %s", strerror(errno));
	kid = fork();
	if (kid == 0) {
		/* the peer: a grandchild, left to the sandbox's init, outside the fixture's tree */
		if (fork() == 0) {
			close(p[0]);
			setsid();
			signal(SIGUSR1, SIG_IGN);
			signal(SIGUSR2, SIG_IGN);
			peer(p[1]);
		}
		_exit(0);
	}
	close(p[1]);
	waitpid(kid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		fx_fail("the peer did not start listening on %s", PATH);
	close(p[0]);
	s = connect_to(PATH);
	if (s < 0)
		fx_fail("connect %s: %s", PATH, strerror(errno));
	if (!ping(s, 1))
		fx_fail("no pong from the peer before the dump");
	fstat(s, &st);
	f = fopen("ext-ino.tmp", "w");
	if (!f || fprintf(f, "%lu\n", (unsigned long)st.st_ino) < 0 || fclose(f) || rename("ext-ino.tmp", "ext-ino"))
		fx_fail("cannot write ext-ino: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM)
		fx_note_failure("fd %d is not a unix stream socket any more (SO_TYPE %d: %s)", s, type, strerror(errno));
	else if (!ping(s, 2))
		fx_note_failure("fd %d: a ping gets no pong from the peer outside the tree", s);
	dprintf(s, "bye\n");
	fx_finish();
}
