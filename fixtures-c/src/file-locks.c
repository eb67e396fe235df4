/*
 * file-locks: the locks a program holds (dumped with --file-locks).
 *
 * "a": an exclusive flock, through an fd and its dup; "b": a shared flock; "c": POSIX record locks, a write lock
 * on bytes 10-19 and a read lock from byte 100 to EOF; "d": an OFD write lock on bytes 0-99; "e": a read lease.
 * Verdict: a child process (another lock owner) finds every lock where it was: flock "a" refuses it even a
 * shared lock, "b" grants it a shared one but not an exclusive one, F_GETLK on "c" reports the write lock (with
 * the fixture's pid as owner), the read lock and nothing in between, F_OFD_GETLK on "d" reports the write lock;
 * and F_GETLEASE on "e" reports the read lease.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[200], pa[256], pb[256], pc[256], pd[256], pe[256];

static int make(char *path, const char *name)
{
	snprintf(path, 256, "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, 4096))
		fx_fail("create %s: %s", path, strerror(errno));
	return fd;
}

static int getlk(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
	memset(out, 0, sizeof(*out));
	out->l_type = type;
	out->l_whence = SEEK_SET;
	out->l_start = start;
	out->l_len = len;
	return fcntl(fd, cmd, out);
}

/* Runs in a child: another owner for every kind of lock. Returns a failure or NULL. */
static const char *probe(pid_t holder)
{
	static char why[200];
	struct flock fl;
	int a = open(pa, O_RDWR), b = open(pb, O_RDWR), c = open(pc, O_RDWR), d = open(pd, O_RDWR);

	if (a < 0 || b < 0 || c < 0 || d < 0)
		return "the child cannot open the files";
	if (flock(a, LOCK_SH | LOCK_NB) == 0)
		return "flock a: a shared lock is granted, the exclusive flock is gone";
	if (flock(b, LOCK_SH | LOCK_NB) != 0)
		return "flock b: a shared lock is refused, the flock is exclusive now";
	if (flock(b, LOCK_EX | LOCK_NB) == 0)
		return "flock b: an exclusive lock is granted, the shared flock is gone";
	if (getlk(c, F_GETLK, F_RDLCK, 12, 1, &fl) || fl.l_type != F_WRLCK || fl.l_start != 10 || fl.l_len != 10)
		return "POSIX c: no write lock on bytes 10-19";
	if (fl.l_pid != holder) {
		snprintf(why, sizeof(why), "POSIX c: the write lock is owned by %d, expected %d", fl.l_pid, holder);
		return why;
	}
	if (getlk(c, F_GETLK, F_WRLCK, 50, 10, &fl) || fl.l_type != F_UNLCK)
		return "POSIX c: bytes 50-59 are locked";
	if (getlk(c, F_GETLK, F_WRLCK, 5000, 1, &fl) || fl.l_type != F_RDLCK || fl.l_start != 100 || fl.l_len != 0)
		return "POSIX c: no read lock from byte 100 to EOF";
	if (getlk(c, F_GETLK, F_RDLCK, 5000, 1, &fl) || fl.l_type != F_UNLCK)
		return "POSIX c: the read lock refuses another reader";
	if (getlk(d, F_OFD_GETLK, F_RDLCK, 0, 1, &fl) || fl.l_type != F_WRLCK || fl.l_start != 0 || fl.l_len != 100)
		return "OFD d: no write lock on bytes 0-99";
	return NULL;
}

int main(void)
{
	fx_init("file-locks");
	snprintf(dir, sizeof(dir), "/tmp/cryo-locks-XXXXXX");
	if (!mkdtemp(dir))
		fx_fail("mkdtemp: %s", strerror(errno));
	int a = make(pa, "a"), b = make(pb, "b"), c = make(pc, "c"), d = make(pd, "d");
	int a2 = dup(a);
	struct flock fl;
	if (flock(a2, LOCK_EX) || flock(b, LOCK_SH))
		fx_fail("flock: %s", strerror(errno));
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 10};
	if (fcntl(c, F_SETLK, &fl))
		fx_fail("F_SETLK write: %s", strerror(errno));
	fl = (struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 0};
	if (fcntl(c, F_SETLK, &fl))
		fx_fail("F_SETLK read: %s", strerror(errno));
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
	if (fcntl(d, F_OFD_SETLK, &fl))
		fx_fail("F_OFD_SETLK: %s", strerror(errno));
	/* a read lease needs the file open for reading only, by everyone */
	snprintf(pe, sizeof(pe), "%s/e", dir);
	int e = open(pe, O_CREAT | O_WRONLY, 0600);
	if (e < 0 || close(e) || (e = open(pe, O_RDONLY)) < 0 || fcntl(e, F_SETLEASE, F_RDLCK))
		fx_fail("F_SETLEASE on %s: %s", pe, strerror(errno));

	fx_ready();
	fx_wait_verify();

	int p[2];
	if (pipe(p))
		fx_fail("pipe: %s", strerror(errno));
	pid_t self = getpid(), child = fork();
	if (child == 0) {
		const char *bad = probe(self);
		if (bad && write(p[1], bad, strlen(bad)) < 0)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	char why[256] = {0};
	if (read(p[0], why, sizeof(why) - 1) > 0)
		fx_note_failure("%s", why);
	waitpid(child, NULL, 0);
	if (flock(a, LOCK_EX | LOCK_NB))
		fx_note_failure("flock a: the fixture's own exclusive lock is not its own: %s", strerror(errno));
	int lease = fcntl(e, F_GETLEASE);
	if (lease != F_RDLCK)
		fx_note_failure("lease e: F_GETLEASE reads %d, not the read lease (%d)", lease, F_RDLCK);
	fcntl(e, F_SETLEASE, F_UNLCK);
	(void)a2;
	unlink(pa);
	unlink(pb);
	unlink(pc);
	unlink(pd);
	unlink(pe);
	rmdir(dir);
	fx_finish();
}
