/*
 * devices: device files and a directory held open, as daemons hold them: /dev/null (read-write), /dev/zero,
 * /dev/urandom (O_NONBLOCK), /dev/full (write-only, FD_CLOEXEC off), and the fixture's directory opened
 * O_RDONLY|O_DIRECTORY (not O_PATH) with its listing read.
 * Verdict: each fd is the same device (major:minor) or directory (inode), with its access mode and flags, and acts
 * as that device does: /dev/null swallows and reads nothing, /dev/zero reads zeros, /dev/urandom reads bytes,
 * /dev/full refuses a write with ENOSPC, and the directory fd lists the directory again (a file made now shows).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct dev {
	const char *path;
	int flags, fd;
	struct stat st;
};

static struct dev devs[] = {
	{"/dev/null", O_RDWR | O_CLOEXEC, -1, {0}},
	{"/dev/zero", O_RDONLY | O_CLOEXEC, -1, {0}},
	{"/dev/urandom", O_RDONLY | O_NONBLOCK | O_CLOEXEC, -1, {0}},
	{"/dev/full", O_WRONLY, -1, {0}},
	{".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, -1, {0}},
};
#define NDEVS (int)(sizeof(devs) / sizeof(devs[0]))

/* Whether the directory open at fd lists name (through a dup, so fd's own position stays). */
static int lists(int fd, const char *name)
{
	int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = copy < 0 ? NULL : fdopendir(copy);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		found |= !strcmp(e->d_name, name);
	closedir(d);
	return found;
}

int main(void)
{
	char buf[64];
	int i;

	fx_init("devices");
	for (i = 0; i < NDEVS; i++) {
		devs[i].fd = open(devs[i].path, devs[i].flags);
		if (devs[i].fd < 0 || fstat(devs[i].fd, &devs[i].st))
			fx_fail("open %s: %s", devs[i].path, strerror(errno));
	}
	if (!lists(devs[4].fd, "out"))
		fx_fail("the directory fd does not list its own out file");

	fx_ready();
	fx_wait_verify();

	for (i = 0; i < NDEVS; i++) {
		struct stat now;
		int want = devs[i].flags & (O_ACCMODE | O_NONBLOCK), fl = fcntl(devs[i].fd, F_GETFL);
		if (fstat(devs[i].fd, &now)) {
			fx_note_failure("%s: fd %d is gone: %s", devs[i].path, devs[i].fd, strerror(errno));
			continue;
		}
		if ((now.st_mode & S_IFMT) != (devs[i].st.st_mode & S_IFMT) || now.st_rdev != devs[i].st.st_rdev
		    || (S_ISDIR(now.st_mode) && now.st_ino != devs[i].st.st_ino))
			fx_note_failure("%s: fd %d is another file now (mode %o, rdev %u:%u)", devs[i].path, devs[i].fd,
					now.st_mode, major(now.st_rdev), minor(now.st_rdev));
		if ((fl & (O_ACCMODE | O_NONBLOCK)) != want)
			fx_note_failure("%s: flags %o, expected %o", devs[i].path, fl & (O_ACCMODE | O_NONBLOCK), want);
		if (!(fcntl(devs[i].fd, F_GETFD) & FD_CLOEXEC) != !(devs[i].flags & O_CLOEXEC))
			fx_note_failure("%s: FD_CLOEXEC not kept", devs[i].path);
	}
	if (write(devs[0].fd, "x", 1) != 1 || read(devs[0].fd, buf, sizeof(buf)) != 0)
		fx_note_failure("/dev/null does not act as /dev/null");
	memset(buf, 1, sizeof(buf));
	if (read(devs[1].fd, buf, sizeof(buf)) != sizeof(buf) || memchr(buf, 1, sizeof(buf)))
		fx_note_failure("/dev/zero does not read zeros");
	if (read(devs[2].fd, buf, sizeof(buf)) != sizeof(buf))
		fx_note_failure("/dev/urandom reads nothing: %s", strerror(errno));
	errno = 0;
	if (write(devs[3].fd, "x", 1) != -1 || errno != ENOSPC)
		fx_note_failure("/dev/full takes a write (%s)", strerror(errno));
	close(open("made-after-restore", O_CREAT | O_WRONLY, 0600));
	if (!lists(devs[4].fd, "made-after-restore"))
		fx_note_failure("the directory fd does not list a file made after the restore");
	unlink("made-after-restore");
	fx_finish();
}
