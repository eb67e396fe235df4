/*
 * opath: O_PATH fds, which name a file without opening it: a regular file, a directory used as the base of
 * openat(), a FIFO (O_PATH does not open it, so nothing blocks), and a symlink itself (O_PATH|O_NOFOLLOW).
 * Verdict: each fd is still O_PATH and names the same inode; openat() relative to the directory fd works;
 * the symlink fd still reads its target with readlinkat(fd, "").
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

static void same(int fd, const char *path, int nofollow, const char *what)
{
	struct stat a, b;

	if (!(fcntl(fd, F_GETFL) & O_PATH))
		fx_note_failure("%s: O_PATH lost (flags %#o)", what, fcntl(fd, F_GETFL));
	if (fstat(fd, &a) || (nofollow ? lstat(path, &b) : stat(path, &b)))
		fx_note_failure("%s: stat: %s", what, strerror(errno));
	else if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fx_note_failure("%s: names another inode", what);
}

int main(void)
{
	char file[256], fifo[256], link[256];

	fx_init("opath");
	snprintf(dir, sizeof(dir), "/tmp/cryo-opath-XXXXXX");
	if (!mkdtemp(dir))
		fx_fail("mkdtemp: %s", strerror(errno));
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	int f = open(file, O_CREAT | O_WRONLY, 0600);
	if (f < 0 || write(f, "hello", 5) != 5)
		fx_fail("create: %s", strerror(errno));
	close(f);
	if (mkfifo(fifo, 0600) || symlink("file", link))
		fx_fail("mkfifo/symlink: %s", strerror(errno));
	int pfile = open(file, O_PATH);
	int pdir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int pfifo = open(fifo, O_PATH);
	int plink = open(link, O_PATH | O_NOFOLLOW);
	if (pfile < 0 || pdir < 0 || pfifo < 0 || plink < 0)
		fx_fail("open O_PATH: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	same(pfile, file, 0, "the file");
	same(pdir, dir, 0, "the directory");
	same(pfifo, fifo, 0, "the FIFO");
	same(plink, link, 1, "the symlink");
	if (!(fcntl(pdir, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("the directory lost FD_CLOEXEC");
	char buf[16] = {0};
	int r = openat(pdir, "file", O_RDONLY);
	if (r < 0 || read(r, buf, 5) != 5 || strcmp(buf, "hello"))
		fx_note_failure("openat() relative to the directory fd fails");
	memset(buf, 0, sizeof(buf));
	if (readlinkat(plink, "", buf, sizeof(buf) - 1) != 4 || strcmp(buf, "file"))
		fx_note_failure("the symlink fd reads \"%s\", expected \"file\"", buf);
	unlink(file);
	unlink(fifo);
	unlink(link);
	rmdir(dir);
	fx_finish();
}
