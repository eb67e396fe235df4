/*
 * pty: a pseudo-terminal pair and the processes on it, as a terminal emulator, script or sshd leave them.
 *
 * Default: the root P holds the master (posix_openpt, grantpt, unlockpt) and sets the window size; its child C
 * leads a new session whose controlling terminal is the slave (C's fds 0, 1, 2), with its own termios (no echo,
 * no output processing, a marker in VKILL); C's child G leads another group of that session, the foreground one,
 * and reads commands from the terminal. The whole tree is dumped.
 * Verdict (SIGUSR2 to P): P writes "check" to the master; G checks that its fd 0 is a terminal, is the same
 * /dev/pts/N, keeps the termios and window size, that C's session controls it (tcgetsid, /proc/C/stat tty_nr)
 * and that G's group is in the foreground (tcgetpgrp, /proc/C/stat tpgid), and answers "ok" or "bad: why"
 * through /dev/tty, which G holds open (the controlling terminal by its own name, dumped without -j); P reads
 * it from the master and checks its own master (same index, still unlocked).
 *
 * --outside: the master stays outside the dumped tree (a shell job's terminal, dumped and restored with -j).
 * P holds the master and answers "ping" with "pong"; its child C, on the slave (fds 0, 1, 2) with the same
 * termios, is what is dumped (it writes the ready marker). Verdict (SIGUSR2 to C): C checks fd 0 as above (not
 * the session, which -j gives the restorer's) and that a "ping" through the terminal comes back as "pong".
 * C writes ./ext-tty (CRIU's name of its terminal, tty[RDEV:DEV]) and ./ext-tty-path, for the variant dumped with
 * --external tty[RDEV:DEV] and restored with --inherit-fd fd[N]:tty[RDEV:DEV] instead of -j.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define ROWS 37
#define COLS 101
#define KILL_MARK 0x0b

static char name[64];

/* One line from fd (the newline dropped); -1 on error or EOF. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* The slave as C sets it up: no echo, no output processing, canonical input, a marker in VKILL. */
static void set_termios(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t))
		fx_fail("tcgetattr: %s", strerror(errno));
	t.c_lflag &= ~(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	t.c_oflag &= ~OPOST;
	t.c_cc[VKILL] = KILL_MARK;
	if (tcsetattr(fd, TCSANOW, &t))
		fx_fail("tcsetattr: %s", strerror(errno));
}

/* What any process on the slave can check of its fd 0; NULL when all holds. */
static const char *check_terminal(char *why, size_t len)
{
	struct termios t;
	struct winsize w;
	const char *tn = ttyname(0);

	if (!isatty(0))
		return "fd 0 is no terminal";
	if (!tn || strcmp(tn, name)) {
		snprintf(why, len, "fd 0 is %s, was %s", tn ? tn : "?", name);
		return why;
	}
	if (tcgetattr(0, &t))
		return "tcgetattr failed";
	if ((t.c_lflag & ECHO) || !(t.c_lflag & ICANON) || (t.c_oflag & OPOST) || t.c_cc[VKILL] != KILL_MARK) {
		snprintf(why, len, "termios changed (lflag %#x oflag %#x VKILL %#x)", t.c_lflag, t.c_oflag, t.c_cc[VKILL]);
		return why;
	}
	if (ioctl(0, TIOCGWINSZ, &w) || w.ws_row != ROWS || w.ws_col != COLS) {
		snprintf(why, len, "window size %dx%d, was %dx%d", w.ws_row, w.ws_col, ROWS, COLS);
		return why;
	}
	return NULL;
}

/* session, tty_nr, tpgid of pid from /proc. */
static int proc_tty(pid_t pid, int *sid, long *tty, int *tpgid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid, pgrp;
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	return sscanf(p + 2, "%c %d %d %d %ld %d", &state, &ppid, &pgrp, sid, tty, tpgid) == 6 ? 0 : -1;
}

/* G: the foreground group's reader. */
static void reader(pid_t leader)
{
	char line[128], why[200];
	/* the controlling terminal by its own name: the answers go back through it */
	int ctty = open("/dev/tty", O_RDWR);

	if (ctty < 0)
		_exit(5);
	/* not before C made this group the foreground one: a read from the terminal in a background group stops
	   the reader (SIGTTIN), and nothing would ever continue it */
	for (int waited = 0; tcgetpgrp(0) != getpgrp(); waited++) {
		if (waited > 10000)
			_exit(6);
		usleep(1000);
	}
	say(1, "ready\n");
	for (;;) {
		if (read_line(0, line, sizeof(line)) < 0)
			_exit(1);
		if (strcmp(line, "check"))
			continue;
		const char *bad = check_terminal(why, sizeof(why));
		struct stat st;
		int sid, tpgid;
		long tty;
		if (!bad && tcgetsid(0) != leader) {
			snprintf(why, sizeof(why), "the terminal's session is %d, not %d", tcgetsid(0), leader);
			bad = why;
		}
		if (!bad && tcgetpgrp(0) != getpgrp()) {
			snprintf(why, sizeof(why), "the foreground group is %d, not %d", tcgetpgrp(0), getpgrp());
			bad = why;
		}
		if (!bad && (fstat(0, &st) || proc_tty(leader, &sid, &tty, &tpgid) || sid != leader
			     || (unsigned long)tty != (unsigned long)st.st_rdev || tpgid != getpgrp())) {
			snprintf(why, sizeof(why), "/proc/%d/stat: session %d tty %#lx tpgid %d", leader, sid, tty, tpgid);
			bad = why;
		}
		if (!bad && tcgetpgrp(ctty) != getpgrp()) {
			snprintf(why, sizeof(why), "/dev/tty's foreground group is %d, not %d", tcgetpgrp(ctty), getpgrp());
			bad = why;
		}
		if (bad) {
			char out[256];
			snprintf(out, sizeof(out), "bad: %s\n", bad);
			say(ctty, out);
		} else {
			say(ctty, "ok\n");
		}
	}
}

/* C in the default mode: leads the session, leaves the foreground to G. */
static void leader(void)
{
	pid_t g = fork();

	if (g < 0)
		_exit(1);
	if (g == 0) {
		setpgid(0, 0);
		reader(getppid());
	}
	setpgid(g, g);
	if (tcsetpgrp(0, g))
		_exit(2);
	for (;;)
		pause();
}

/* Puts the calling process on the slave as its session's controlling terminal. */
static void take_slave(void)
{
	if (setsid() < 0)
		_exit(3);
	int s = open(name, O_RDWR);
	if (s < 0 || ioctl(s, TIOCSCTTY, 0))
		_exit(4);
	set_termios(s);
	dup2(s, 0);
	dup2(s, 1);
	dup2(s, 2);
	if (s > 2)
		close(s);
}

static int master_fd;

/* C in --outside mode: the dumped process. */
static void outside_child(void)
{
	char why[200], line[64];

	take_slave();
	{
		/* CRIU's name of the terminal, tty[RDEV:DEV] (the kernel's dev_t encoding, hex), and its path: for a
		   dump with --external tty[RDEV:DEV] and a restore given the terminal with --inherit-fd */
		struct stat st;
		FILE *f;
		if (fstat(0, &st) == 0 && (f = fopen("ext-tty", "w")) != NULL) {
			unsigned long long r = st.st_rdev, d = st.st_dev;
			fprintf(f, "tty[%llx:%llx]\n",
				(unsigned long long)((minor(r) & 0xff) | (major(r) << 8) | ((minor(r) & ~0xffu) << 12)),
				(unsigned long long)((minor(d) & 0xff) | (major(d) << 8) | ((minor(d) & ~0xffu) << 12)));
			fclose(f);
		}
		if ((f = fopen("ext-tty-path", "w")) != NULL) {
			fprintf(f, "%s\n", name);
			fclose(f);
		}
	}
	fx_ready();
	fx_wait_verify();
	const char *bad = check_terminal(why, sizeof(why));
	if (bad)
		fx_fail("%s", bad);
	say(1, "ping\n");
	if (read_line(0, line, sizeof(line)) < 0 || strcmp(line, "pong"))
		fx_fail("no pong through the terminal (got \"%s\")", line);
	fx_pass();
}

int main(int argc, char **argv)
{
	int outside = argc > 1 && !strcmp(argv[1], "--outside");
	char line[256];
	unsigned int index;
	struct winsize w = {.ws_row = ROWS, .ws_col = COLS};

	fx_init("pty");
	master_fd = posix_openpt(O_RDWR | O_NOCTTY);
	if (master_fd < 0 || grantpt(master_fd) || unlockpt(master_fd) || ioctl(master_fd, TIOCGPTN, &index))
		fx_fail("posix_openpt: %s", strerror(errno));
	snprintf(name, sizeof(name), "%s", ptsname(master_fd));
	if (ioctl(master_fd, TIOCSWINSZ, &w))
		fx_fail("TIOCSWINSZ: %s", strerror(errno));

	pid_t c = fork();
	if (c < 0)
		fx_fail("fork: %s", strerror(errno));
	if (c == 0) {
		close(master_fd);
		if (outside)
			outside_child();
		take_slave();
		leader();
	}

	if (outside) {
		/*
		 * Outside the tree: answer pings, and reap the child the dump kills, so that its pid is free for the
		 * restore. The slave has no holder while the child is away (reads give EIO), but the restorer may open it
		 * (--inherit-fd) before the child is reaped: a read then blocks. So the master is polled, and the child
		 * looked for every tenth of a second whatever the terminal does.
		 */
		for (int idle = 0; idle < 6000;) {
			struct pollfd p = {.fd = master_fd, .events = POLLIN};
			waitpid(c, NULL, WNOHANG); /* killed by the dump: the restore brings it back */
			int ready = poll(&p, 1, 100);
			if (ready == 0 || (ready < 0 && errno == EINTR)) {
				idle++;
				continue;
			}
			if (ready < 0 || read_line(master_fd, line, sizeof(line)) < 0) {
				usleep(100000);
				idle++;
				continue;
			}
			if (!strcmp(line, "ping"))
				say(master_fd, "pong\n");
		}
		return 0;
	}

	if (read_line(master_fd, line, sizeof(line)) < 0 || strcmp(line, "ready"))
		fx_fail("the terminal's reader did not start (got \"%s\")", line);
	fx_ready();
	fx_wait_verify();

	unsigned int now = 0;
	int locked = -1;
	if (ioctl(master_fd, TIOCGPTN, &now) || now != index)
		fx_note_failure("the master's index is %u, was %u", now, index);
	if (ioctl(master_fd, TIOCGPTLCK, &locked) || locked != 0)
		fx_note_failure("the pty is locked again (%d)", locked);
	say(master_fd, "check\n");
	if (read_line(master_fd, line, sizeof(line)) < 0)
		fx_note_failure("no answer through the terminal: %s", strerror(errno));
	else if (strcmp(line, "ok"))
		fx_note_failure("the terminal's reader says: %s", line);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	fx_finish();
}
