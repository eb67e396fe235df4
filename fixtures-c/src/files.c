/*
 * files: regular files open in the ways a program uses them.
 *
 * In the work directory (--dir=PATH, default "."): data.bin opened O_RDWR with a written pattern
 * and its offset left mid-file; a dup of that fd (same open file description, shared offset);
 * log.txt opened O_WRONLY|O_APPEND; data.bin again O_RDONLY at another offset.
 * Verdict: every fd has its offset and flags, the dup still shares its offset with the original,
 * the content is intact, and an append still lands at the end.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DATA_LEN 20000

static unsigned char pattern(long i) { return (unsigned char)(i * 31 + 7); }

static void expect_fd(int fd, off_t pos, int flags, const char *what)
{
	off_t now = lseek(fd, 0, SEEK_CUR);
	int fl = fcntl(fd, F_GETFL);

	if (now != pos)
		fx_note_failure("%s (fd %d) is at offset %lld, expected %lld", what, fd, (long long)now, (long long)pos);
	if ((fl & (O_ACCMODE | O_APPEND)) != flags)
		fx_note_failure("%s (fd %d) has flags %#x, expected %#x", what, fd, fl & (O_ACCMODE | O_APPEND), flags);
}

int main(int argc, char **argv)
{
	const char *dir = fx_opt_str(argc, argv, "dir", ".");
	char path[4096], logpath[4096], line[64];
	unsigned char buf[DATA_LEN];
	int rw, dup_rw, app, ro;

	fx_init("files");
	snprintf(path, sizeof(path), "%s/data.bin", dir);
	snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);
	for (long i = 0; i < DATA_LEN; i++)
		buf[i] = pattern(i);
	rw = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	app = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (rw < 0 || app < 0)
		fx_fail("cannot create %s or %s: %s", path, logpath, strerror(errno));
	if (write(rw, buf, DATA_LEN) != DATA_LEN || write(app, "before\n", 7) != 7)
		fx_fail("cannot write the pattern: %s", strerror(errno));
	lseek(rw, 1234, SEEK_SET);
	dup_rw = dup(rw);
	ro = open(path, O_RDONLY);
	lseek(ro, 4321, SEEK_SET);

	fx_ready();
	fx_wait_verify();

	expect_fd(rw, 1234, O_RDWR, "data.bin");
	expect_fd(dup_rw, 1234, O_RDWR, "the dup of data.bin");
	expect_fd(ro, 4321, O_RDONLY, "data.bin read-only");
	expect_fd(app, 7, O_WRONLY | O_APPEND, "log.txt");
	lseek(rw, 10, SEEK_SET);
	if (lseek(dup_rw, 0, SEEK_CUR) != 10)
		fx_note_failure("the dup of data.bin no longer shares its offset with fd %d", rw);
	if (pread(ro, buf, DATA_LEN, 0) != DATA_LEN)
		fx_note_failure("data.bin is shorter than %d bytes", DATA_LEN);
	for (long i = 0; i < DATA_LEN; i++)
		if (buf[i] != pattern(i)) {
			fx_note_failure("data.bin differs at byte %ld", i);
			break;
		}
	if (write(app, "after\n", 6) != 6 || pread(ro, line, 0, 0) < 0)
		fx_note_failure("cannot append to log.txt: %s", strerror(errno));
	if (lseek(app, 0, SEEK_CUR) != 13)
		fx_note_failure("append to log.txt did not land at its end (offset %lld)", (long long)lseek(app, 0, SEEK_CUR));
	fx_finish();
}
