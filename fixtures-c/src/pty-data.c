/*
 * pty-data: bytes in flight in a pseudo-terminal, both ways, as a terminal emulator whose shell is busy leaves them.
 *
 * The process holds a pty's master and slave. The slave keeps the usual termios of a new terminal (canonical,
 * echo, CR to NL on input, NL to CR NL on output). Queued, unread, at the dump:
 *   - for the master's reader: what the slave's side wrote ("out 1\n", then a block of 3000 bytes with no newline)
 *     and the echo of what was typed;
 *   - for the slave's reader: what was typed into the master: two whole lines ("typed one\r", "typed two\n") and a
 *     partial one ("part").
 * The very same writes go through a reference pty first, read at once: its master's bytes are what the dumped one
 * must give after the restore (so the fixture does not depend on the details of the kernel's echo).
 * Verdict (SIGUSR2): the master gives exactly the reference bytes, then nothing; the slave gives "typed one\n",
 * "typed two\n", then nothing (the partial line is still partial), and "partial\n" once "ial\r" is typed; nothing is
 * echoed twice (the master then holds only the echo of "ial\r"); the termios are as they were.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define BLOCK 3000

static char block[BLOCK];

static void open_pair(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0 || grantpt(*master) || unlockpt(*master))
		fx_fail("posix_openpt: %s", strerror(errno));
	*slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	if (*slave < 0)
		fx_fail("open %s: %s", ptsname(*master), strerror(errno));
}

static void put(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fx_fail("write: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* poll() on a tty makes the kernel hand the bytes waiting for it to its line discipline (and echo them). */
static void settle(int master, int slave)
{
	struct pollfd p[2] = {{.fd = slave, .events = POLLIN}, {.fd = master, .events = POLLIN}};
	poll(p, 2, 0);
	poll(&p[1], 1, 0);
}

/* The writes of the fixture's state, the same on both ptys. */
static void fill(int master, int slave)
{
	put(slave, "out 1\n", 6);
	put(slave, block, BLOCK);
	settle(master, slave);
	put(master, "typed one\rtyped two\npart", 24);
	settle(master, slave);
}

/* Everything fd has to read now (non-blocking); returns the count. */
static size_t drain(int fd, char *buf, size_t len)
{
	size_t n = 0;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		ssize_t r = read(fd, buf + n, len - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == len)
			break;
	}
	fcntl(fd, F_SETFL, fl);
	return n;
}

/*
 * The reference master's bytes, the echo of what was typed included. The echo is made by the kernel's work on the
 * slave's input, which settle() only hurries: once, in docker on a busy machine, the reference had not got it yet
 * while the dumped pty had (26 bytes more). The last bytes typed are "part", which echoes as itself: read until the
 * bytes end with it (5 s at most).
 */
static size_t drain_echoed(int fd, char *buf, size_t len)
{
	size_t n = drain(fd, buf, len);

	for (int waited = 0; !(n >= 4 && memcmp(buf + n - 4, "part", 4) == 0); waited += 10) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (waited >= 5000 || n == len)
			fx_fail("the reference pty's master gave %zu bytes, without the echo of \"part\" at their end", n);
		poll(&p, 1, 10);
		n += drain(fd, buf + n, len - n);
	}
	return n;
}

/* One read of the slave (non-blocking, canonical: one line); -1 when there is none. */
static ssize_t line(int fd, char *buf, size_t len)
{
	int fl = fcntl(fd, F_GETFL);
	ssize_t r;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	do
		r = read(fd, buf, len - 1);
	while (r < 0 && errno == EINTR);
	fcntl(fd, F_SETFL, fl);
	if (r >= 0)
		buf[r] = 0;
	return r;
}

int main(void)
{
	static char expected[16384], got[16384];
	struct termios before, after;
	int rm, rs, m, s;
	size_t nexp, ngot;
	char buf[256];

	fx_init("pty-data");
	for (int i = 0; i < BLOCK; i++)
		block[i] = (char)('a' + i % 26);

	open_pair(&rm, &rs);
	fill(rm, rs);
	nexp = drain_echoed(rm, expected, sizeof(expected));
	close(rm);
	close(rs);
	if (nexp < 6 + BLOCK)
		fx_fail("the reference pty gave %zu bytes to its master", nexp);

	open_pair(&m, &s);
	if (tcgetattr(s, &before))
		fx_fail("tcgetattr: %s", strerror(errno));
	fill(m, s);
	/* the same for the pty that is dumped: its master holds as many bytes as the reference's before the dump */
	for (int waited = 0, queued = 0; ioctl(m, FIONREAD, &queued) == 0 && (size_t)queued < nexp; waited++) {
		if (waited >= 5000)
			fx_fail("the master holds %d bytes, the reference's held %zu", queued, nexp);
		settle(m, s);
		usleep(1000); /* the master is readable already: poll() would not wait */
	}
	fx_ready();
	fx_wait_verify();

	if (tcgetattr(s, &after) || memcmp(&before, &after, sizeof(before)))
		fx_note_failure("the slave's termios changed (lflag %#x -> %#x, oflag %#x -> %#x)", before.c_lflag,
				after.c_lflag, before.c_oflag, after.c_oflag);
	ngot = drain(m, got, sizeof(got));
	if (ngot != nexp || memcmp(got, expected, nexp)) {
		size_t at = 0;
		while (at < ngot && at < nexp && got[at] == expected[at])
			at++;
		fx_note_failure("the master gives %zu bytes, expected %zu; first difference at byte %zu", ngot, nexp, at);
	}
	if (line(s, buf, sizeof(buf)) != 10 || strcmp(buf, "typed one\n"))
		fx_note_failure("the slave's first line is \"%s\", not \"typed one\\n\"", buf);
	else if (line(s, buf, sizeof(buf)) != 10 || strcmp(buf, "typed two\n"))
		fx_note_failure("the slave's second line is \"%s\", not \"typed two\\n\"", buf);
	else if (line(s, buf, sizeof(buf)) >= 0)
		fx_note_failure("the partial line can be read already: \"%s\"", buf);
	else {
		put(m, "ial\r", 4);
		settle(m, s);
		if (line(s, buf, sizeof(buf)) != 8 || strcmp(buf, "partial\n"))
			fx_note_failure("the completed line is \"%s\", not \"partial\\n\"", buf);
		ngot = drain(m, got, sizeof(got));
		if (ngot != 5 || memcmp(got, "ial\r\n", 5))
			fx_note_failure("after typing \"ial\\r\" the master gives %zu bytes (\"%.*s\"), not its echo", ngot,
					(int)(ngot > 40 ? 40 : ngot), got);
	}
	fx_finish();
}
