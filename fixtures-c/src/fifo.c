/*
 * fifo: named pipes with bytes in flight, both ends held by the fixture.
 *
 * "a": a non-blocking read end and a blocking write end, 3000 bytes written and not read; "b": one O_RDWR fd,
 * both ends at once, 100 bytes in it; "c": both ends, empty.
 * Verdict: each FIFO is the same file (inode), its fds keep their modes and O_NONBLOCK, the bytes come out in
 * order and then nothing (EAGAIN, the writer still there), and the pipe still carries new bytes.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[200];

static void same_fifo(int fd, const char *path, const char *what)
{
	struct stat a, b;

	if (fstat(fd, &a) || stat(path, &b) || !S_ISFIFO(a.st_mode) || a.st_ino != b.st_ino)
		fx_note_failure("%s: fd %d is not the FIFO %s", what, fd, path);
}

static void drains(int fd, const unsigned char *want, size_t len, const char *what)
{
	unsigned char buf[4096];
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf, sizeof(buf) < len - got ? sizeof(buf) : len - got);
		if (n <= 0) {
			fx_note_failure("%s: %zu of %zu bytes, then %s", what, got, len, n < 0 ? strerror(errno) : "EOF");
			return;
		}
		if (memcmp(buf, want + got, n)) {
			fx_note_failure("%s: bytes differ at %zu", what, got);
			return;
		}
		got += n;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (read(fd, buf, 1) != -1 || errno != EAGAIN)
		fx_note_failure("%s: more bytes than were written, or no writer left", what);
	fcntl(fd, F_SETFL, fl);
}

int main(void)
{
	char a[256], b[256], c[256];
	unsigned char data[3000], small[100];
	unsigned long long s = 11;

	fx_init("fifo");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)fx_rand(&s);
	for (size_t i = 0; i < sizeof(small); i++)
		small[i] = (unsigned char)fx_rand(&s);
	snprintf(dir, sizeof(dir), "/tmp/cryo-fifo-XXXXXX");
	if (!mkdtemp(dir))
		fx_fail("mkdtemp: %s", strerror(errno));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	if (mkfifo(a, 0600) || mkfifo(b, 0600) || mkfifo(c, 0644))
		fx_fail("mkfifo: %s", strerror(errno));
	int ar = open(a, O_RDONLY | O_NONBLOCK);
	int aw = open(a, O_WRONLY);
	int brw = open(b, O_RDWR);
	int cr = open(c, O_RDONLY | O_NONBLOCK);
	int cw = open(c, O_WRONLY | O_CLOEXEC);
	if (ar < 0 || aw < 0 || brw < 0 || cr < 0 || cw < 0)
		fx_fail("open: %s", strerror(errno));
	if (write(aw, data, sizeof(data)) != sizeof(data) || write(brw, small, sizeof(small)) != sizeof(small))
		fx_fail("write: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	same_fifo(ar, a, "a's read end");
	same_fifo(aw, a, "a's write end");
	same_fifo(brw, b, "b");
	same_fifo(cr, c, "c's read end");
	if (!(fcntl(ar, F_GETFL) & O_NONBLOCK) || (fcntl(aw, F_GETFL) & O_NONBLOCK) || (fcntl(brw, F_GETFL) & O_NONBLOCK))
		fx_note_failure("O_NONBLOCK not kept");
	if ((fcntl(ar, F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(aw, F_GETFL) & O_ACCMODE) != O_WRONLY
	    || (fcntl(brw, F_GETFL) & O_ACCMODE) != O_RDWR)
		fx_note_failure("access modes not kept");
	if (!(fcntl(cw, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");
	drains(ar, data, sizeof(data), "a");
	drains(brw, small, sizeof(small), "b");
	unsigned char buf[8];
	if (read(cr, buf, 1) != -1 || errno != EAGAIN)
		fx_note_failure("c: bytes where there were none");
	if (write(aw, "later", 5) != 5 || read(ar, buf, 5) != 5 || memcmp(buf, "later", 5))
		fx_note_failure("a no longer carries new bytes");
	if (write(cw, "x", 1) != 1 || read(cr, buf, 1) != 1 || buf[0] != 'x')
		fx_note_failure("c no longer carries new bytes");
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
	fx_finish();
}
