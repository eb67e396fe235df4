/*
 * shared-fd: parent and child share one open file description (inherited across fork).
 *
 * The file holds bytes 0, 1, 2, ...; each reads a few before the dump, so the shared offset is past them.
 * Verdict (SIGUSR2 to the parent): the offset is where both left it; the parent reads 4 bytes, then the
 * child must find the offset moved by 4 and read the next 4 bytes; the parent then finds it moved again.
 * A restore that opens the file twice gives each its own offset and fails.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int read_expect(int fd, unsigned char from, int n)
{
	unsigned char b[16];

	if (read(fd, b, n) != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (b[i] != (unsigned char)(from + i))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = fx_opt_str(argc, argv, "dir", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	char path[512];
	unsigned char data[256];
	int fd, go[2], done[2], status;
	pid_t kid;
	char c;

	fx_init("shared-fd");
	snprintf(path, sizeof(path), "%s/shared-fd.%d", dir, getpid());
	for (int i = 0; i < 256; i++)
		data[i] = (unsigned char)i;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data) || lseek(fd, 10, SEEK_SET) != 10)
		fx_fail("cannot write %s: %s", path, strerror(errno));
	if (pipe(go) < 0 || pipe(done) < 0)
		fx_fail("cannot make pipes");
	kid = fork();
	if (kid < 0)
		fx_fail("cannot fork");
	if (kid == 0) {
		/* the child moves the shared offset too: 10 -> 13 */
		if (!read_expect(fd, 10, 3))
			_exit(2);
		if (write(done[1], "r", 1) != 1)
			_exit(3);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		/* the parent read 4 at 13..16 after the restore: the shared offset is 17 */
		if (lseek(fd, 0, SEEK_CUR) != 17 || !read_expect(fd, 17, 4))
			_exit(4);
		if (write(done[1], "v", 1) != 1)
			_exit(5);
		_exit(0);
	}
	while (read(done[0], &c, 1) < 0 && errno == EINTR)
		;
	fx_ready();
	fx_wait_verify();
	if (lseek(fd, 0, SEEK_CUR) != 13)
		fx_fail("the shared offset is %ld, expected 13 (the child's read moved it)", (long)lseek(fd, 0, SEEK_CUR));
	if (!read_expect(fd, 13, 4))
		fx_fail("cannot read bytes 13..16");
	if (write(go[1], "g", 1) != 1)
		fx_fail("cannot wake the child");
	while (read(done[0], &c, 1) < 0 && errno == EINTR)
		;
	if (waitpid(kid, &status, 0) != kid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fx_fail("the child did not see the parent's reads move the shared offset (status %#x)", status);
	unlink(path);
	if (lseek(fd, 0, SEEK_CUR) != 21)
		fx_fail("the shared offset is %ld after the child's read, expected 21", (long)lseek(fd, 0, SEEK_CUR));
	fx_pass();
}
