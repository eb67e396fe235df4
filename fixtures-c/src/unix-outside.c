/*
 * unix-outside: a unix stream connection whose other end is outside the dumped tree.
 *
 * The fixture starts a peer detached from its tree (double fork), which listens on the abstract unix address
 * @cryo-unix-outside-peer and answers each
 * "ping N" line with "pong N" on whatever connection it has, taking a new one whenever one arrives. The fixture
 * connects to it, talks once, and writes the inode of its socket to ./ext-ino (the harness dumps with
 * --external unix[INO]). A restore must give the fixture, at the same fd number, a socket connected to the peer:
 * the harness restores with --inherit-fd fd[N]:socket:[INO] under this program's connect role, which connects to
 * that address and runs the restore with that socket as its fd N.
 * Verdict: the fd is a connected unix stream socket and a ping through it gets its pong from the peer.
 *
 * --mode=pipe: the same with a pipe, as the stdout of `prog | tee log`: the fixture holds the write end of a pipe
 * whose read end the peer holds, and writes ./ext-ino with the pipe's inode (the dump needs no option: CRIU dumps
 * a pipe with an end outside). The connect role with --want=pipe asks the peer for the write end of a new pipe
 * (passed over the peer's socket with SCM_RIGHTS) and makes that its fd N, for --inherit-fd fd[N]:pipe:[INO].
 * Verdict: the fd is a pipe's write end and a line written to it reaches the peer (which logs it to ./peer.log).
 *
 * --mode=file: a regular file of its own, ./own.log, open for appending; ./ext-path has its path as the process
 * sees it (the name the images give it). A restore with --inherit-fd fd[N]:PATH under the connect role with
 * --want=file --path=.../given.log puts the restorer's given.log in its place.
 * Verdict: the fd is a regular file open for writing, and a line written to it lands in given.log when the harness
 * gave one (the fd is that very file), else in own.log.
 *
 *   unix-outside [--mode=socket|pipe|file]          the fixture (its peer is a grandchild, outside the tree)
 *   unix-outside --role=connect [--want=socket|pipe|file] --path=P --fd=N -- PROGRAM ARGS...
 *                                                   connects to P ("@NAME": abstract), makes the socket (or the pipe the peer hands
 *                                                   over; or, with file, P itself opened O_RDWR) fd N, runs PROGRAM
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The peer's address: abstract (a leading '@' stands for the NUL), so that it needs no file: the VM sandbox's case
 * directories are on 9p, which cannot hold a socket. Each case has a network namespace of its own.
 */
#define PATH "@cryo-unix-outside-peer"

/* The address of path ("@NAME": abstract), and its length. */
static socklen_t address(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
	if (path[0] != '@')
		return sizeof(*a);
	a->sun_path[0] = '\0';
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
}

static int connect_to(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = address(&a, path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&a, len))
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

/* Appends a line the peer read from a pipe to ./peer.log. */
static void log_line(const char *line)
{
	int fd = open("peer.log", O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd >= 0) {
		dprintf(fd, "%s\n", line);
		close(fd);
	}
}

/* Hands the write end of a new pipe over connection c (SCM_RIGHTS); returns the read end, or -1. */
static int give_pipe(int c)
{
	int p[2];
	char byte = 'p', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	if (pipe(p))
		return -1;
	h->cmsg_level = SOL_SOCKET, h->cmsg_type = SCM_RIGHTS, h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &p[1], sizeof(int));
	if (sendmsg(c, &m, 0) != 1) {
		close(p[0]);
		p[0] = -1;
	}
	close(p[1]);
	return p[0];
}

/*
 * The peer: answers "ping N" with "pong N" on its newest connection, hands a pipe over for "pipe", logs every
 * line read from a pipe, and exits at "bye" from either.
 */
static void peer(int ready, int first_pipe)
{
	struct sockaddr_un a;
	socklen_t len = address(&a, PATH);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), conn = -1, pipe_in = first_pipe;
	char line[128], reply[160];

	alarm(900); /* never outlives a run */
	if (l < 0 || bind(l, (struct sockaddr *)&a, len) || listen(l, 4))
		_exit(1);
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		struct pollfd p[3] = {{.fd = l, .events = POLLIN}, {.fd = conn, .events = POLLIN},
				      {.fd = pipe_in, .events = POLLIN}};
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			int c = accept(l, NULL, NULL);
			if (c >= 0) { /* the fixture's end went (its tree was dumped): the restored one connects anew */
				if (conn >= 0)
					close(conn);
				conn = c;
			}
			continue;
		}
		if (p[1].revents) {
			if (read_line(conn, line, sizeof(line)) < 0) {
				close(conn);
				conn = -1;
			} else if (!strcmp(line, "bye")) {
				break;
			} else if (!strcmp(line, "pipe")) {
				int in = give_pipe(conn);
				if (in >= 0) {
					if (pipe_in >= 0)
						close(pipe_in);
					pipe_in = in;
				}
			} else if (!strncmp(line, "ping ", 5)) {
				int n = snprintf(reply, sizeof(reply), "pong %s\n", line + 5);
				if (write(conn, reply, n) != n) {
					close(conn);
					conn = -1;
				}
			}
		}
		if (p[2].revents) {
			if (read_line(pipe_in, line, sizeof(line)) < 0) {
				close(pipe_in); /* its writer went: a new pipe is asked for over the socket */
				pipe_in = -1;
			} else if (!strcmp(line, "bye")) {
				break;
			} else {
				log_line(line);
			}
		}
	}
	_exit(0);
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
	if (!strcmp(fx_opt_str(argc, argv, "want", "socket"), "file"))
		/* a file by its path: a terminal, for --inherit-fd fd[N]:tty[..]; a regular file, made if missing */
		s = open(path, O_RDWR | O_NOCTTY | O_CREAT, 0644);
	else
		s = connect_to(path);
	if (s >= 0 && !strcmp(fx_opt_str(argc, argv, "want", "socket"), "pipe")) {
		/* the peer hands over the write end of a new pipe it reads */
		char byte, ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {.iov_base = &byte, .iov_len = 1};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
		int w = -1;
		dprintf(s, "pipe\n");
		if (recvmsg(s, &m, 0) == 1 && CMSG_FIRSTHDR(&m))
			memcpy(&w, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
		close(s);
		s = w;
	}
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

/* Whether ./peer.log has line, waiting up to ms for the peer to write it. */
static int logged(const char *line, int ms)
{
	char buf[256];

	for (int waited = 0; waited <= ms; waited += 10) {
		FILE *f = fopen("peer.log", "r");
		int found = 0;
		while (f && fgets(buf, sizeof(buf), f))
			found |= !strncmp(buf, line, strlen(line)) && buf[strlen(line)] == '\n';
		if (f)
			fclose(f);
		if (found)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Whether file path holds line, as a line of its own. */
static int file_has(const char *path, const char *line)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	int found = 0;

	while (f && fgets(buf, sizeof(buf), f))
		found |= !strncmp(buf, line, strlen(line)) && buf[strlen(line)] == '\n';
	if (f)
		fclose(f);
	return found;
}

/* --mode=file: the fixture's own file, its path for the harness, and after the cycle the verdict. */
static void file_mode(void)
{
	char path[4096];
	struct stat st, given;
	FILE *f;
	int s = open("own.log", O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (s < 0 || dprintf(s, "line 1\n") < 0 || !realpath("own.log", path))
		fx_fail("own.log: %s", strerror(errno));
	f = fopen("ext-path.tmp", "w");
	if (!f || fprintf(f, "%s\n", path) < 0 || fclose(f) || rename("ext-path.tmp", "ext-path"))
		fx_fail("cannot write ext-path: %s", strerror(errno));
	fx_ready();
	fx_wait_verify();
	if (fstat(s, &st) || !S_ISREG(st.st_mode) || (fcntl(s, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		fx_note_failure("fd %d is not a regular file open for writing any more", s);
	} else if (dprintf(s, "line 2\n") < 0) {
		fx_note_failure("fd %d: cannot write: %s", s, strerror(errno));
	} else if (stat("given.log", &given) == 0) {
		if (given.st_ino != st.st_ino || given.st_dev != st.st_dev)
			fx_note_failure("fd %d is not the restorer's given.log (--inherit-fd) but inode %lu", s,
					(unsigned long)st.st_ino);
		else if (!file_has("given.log", "line 2"))
			fx_note_failure("fd %d: a line written to it is not in given.log", s);
	} else if (!file_has("own.log", "line 2")) {
		fx_note_failure("fd %d: a line written to it is not in own.log", s);
	}
	fx_finish();
}

static void write_ino(int fd)
{
	struct stat st;
	FILE *f = fopen("ext-ino.tmp", "w");

	fstat(fd, &st);
	if (!f || fprintf(f, "%lu\n", (unsigned long)st.st_ino) < 0 || fclose(f) || rename("ext-ino.tmp", "ext-ino"))
		fx_fail("cannot write ext-ino: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	int p[2], data[2] = {-1, -1}, s, type = 0, piped;
	socklen_t len = sizeof(type);
	struct stat st;
	char c;
	pid_t kid;

	if (!strcmp(fx_opt_str(argc, argv, "role", "fixture"), "connect"))
		return run_connected(argc, argv);
	fx_init("unix-outside");
	if (!strcmp(fx_opt_str(argc, argv, "mode", "socket"), "file"))
		file_mode();
	piped = !strcmp(fx_opt_str(argc, argv, "mode", "socket"), "pipe");
	if (pipe(p) || (piped && pipe(data)))
		fx_fail("pipe: %s", strerror(errno));
	kid = fork();
	if (kid == 0) {
		/* the peer: a grandchild, left to the sandbox's init, outside the fixture's tree */
		if (fork() == 0) {
			close(p[0]);
			if (piped)
				close(data[1]);
			setsid();
			signal(SIGUSR1, SIG_IGN);
			signal(SIGUSR2, SIG_IGN);
			peer(p[1], data[0]);
		}
		_exit(0);
	}
	close(p[1]);
	waitpid(kid, NULL, 0);
	if (read(p[0], &c, 1) != 1)
		fx_fail("the peer did not start listening on %s", PATH);
	close(p[0]);
	if (piped) {
		close(data[0]);
		s = data[1];
		dprintf(s, "line 1\n");
		if (!logged("line 1", 10000))
			fx_fail("the peer did not get a line through the pipe before the dump");
	} else {
		s = connect_to(PATH);
		if (s < 0)
			fx_fail("connect %s: %s", PATH, strerror(errno));
		if (!ping(s, 1))
			fx_fail("no pong from the peer before the dump");
	}
	write_ino(s);

	fx_ready();
	fx_wait_verify();

	if (piped) {
		if (fstat(s, &st) || !S_ISFIFO(st.st_mode) || (fcntl(s, F_GETFL) & O_ACCMODE) != O_WRONLY)
			fx_note_failure("fd %d is not a pipe's write end any more", s);
		else if (dprintf(s, "line 2\n") < 0 || !logged("line 2", 10000))
			fx_note_failure("fd %d: a line written to the pipe does not reach the peer outside the tree", s);
	} else if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM) {
		fx_note_failure("fd %d is not a unix stream socket any more (SO_TYPE %d: %s)", s, type, strerror(errno));
	} else if (!ping(s, 2)) {
		fx_note_failure("fd %d: a ping gets no pong from the peer outside the tree", s);
	}
	dprintf(s, "bye\n");
	fx_finish();
}
