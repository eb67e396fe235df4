/*
 * deleted-files: files a program keeps after unlinking them (CRIU's ghost files and link remaps).
 *
 * --mode=ghost (default), all unlinked, no name left:
 *   - an O_RDWR file of 100 KiB at offset 12345;
 *   - an O_WRONLY|O_APPEND file with a short line;
 *   - a file mapped MAP_SHARED (written through the mapping) and MAP_PRIVATE (a private change), its fd closed;
 *   - a file both open and mapped shared: one inode, so a write through the fd shows in the mapping;
 *   - a sparse file: 4 KiB of data at 1 MiB - 4 KiB, a hole before it.
 * --mode=link: a file opened by one name, that name unlinked, the inode kept by a second hard link
 *   (restored only with --link-remap); the fd and the other name stay one file.
 * Verdict: every file reads back its contents at its offset, is still deleted (nlink 0, "(deleted)" in
 * /proc/self/fd, its old name free), and the shared views of one inode stay one object.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG (100 * 1024)
#define PAGE 4096
#define SPARSE (1024 * 1024)

static char dir[200];

static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
	unsigned long long s = seed * 2654435761ULL + 1;

	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)fx_rand(&s);
}

static int make(const char *name, const void *data, size_t len, off_t at, int flags, char *path)
{
	snprintf(path, 256, "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0640);
	if (fd < 0 || pwrite(fd, data, len, at) != (ssize_t)len)
		fx_fail("create %s: %s", path, strerror(errno));
	close(fd);
	fd = open(path, flags);
	if (fd < 0)
		fx_fail("open %s: %s", path, strerror(errno));
	return fd;
}

/* /proc/self/fd/FD names PATH as the kernel names a file with no name left: "PATH (deleted)" */
static void named_deleted(int fd, const char *path, const char *what)
{
	char link[64], target[512], want[512];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = 0;
	snprintf(want, sizeof(want), "%s (deleted)", path);
	if (strcmp(target, want))
		fx_note_failure("%s: /proc/self/fd/%d is \"%s\", expected \"%s\"", what, fd, target, want);
}

static void still_deleted(int fd, const char *path, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) || st.st_nlink != 0)
		fx_note_failure("%s: nlink is %lu, expected 0 (deleted)", what, (unsigned long)st.st_nlink);
	named_deleted(fd, path, what);
	if (access(path, F_OK) == 0)
		fx_note_failure("%s: its old name %s exists again", what, path);
}

static void reads(int fd, off_t at, const unsigned char *want, size_t len, const char *what)
{
	unsigned char *got = malloc(len);

	if (pread(fd, got, len, at) != (ssize_t)len || memcmp(got, want, len))
		fx_note_failure("%s: contents differ", what);
	free(got);
}

static int ghosts(void)
{
	static unsigned char big[BIG], page[2 * PAGE], both[PAGE], sparse[PAGE];
	char pbig[256], plog[256], pmap[256], pboth[256], psparse[256]; /* dir + a short name */

	pattern(big, sizeof(big), 1);
	pattern(page, sizeof(page), 2);
	pattern(both, sizeof(both), 3);
	pattern(sparse, sizeof(sparse), 4);
	int fbig = make("big", big, sizeof(big), 0, O_RDWR, pbig);
	int flog = make("log", "first line\n", 11, 0, O_WRONLY | O_APPEND, plog);
	int fmap = make("mapped", page, sizeof(page), 0, O_RDWR, pmap);
	int fboth = make("both", both, sizeof(both), 0, O_RDWR, pboth);
	int fsparse = make("sparse", sparse, sizeof(sparse), SPARSE - PAGE, O_RDONLY, psparse);
	if (lseek(fbig, 12345, SEEK_SET) != 12345)
		fx_fail("lseek: %s", strerror(errno));
	unsigned char *shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fmap, 0);
	unsigned char *private = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fmap, 0);
	unsigned char *bothmap = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fboth, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED || bothmap == MAP_FAILED)
		fx_fail("mmap: %s", strerror(errno));
	memset(shared + PAGE, 0x5a, 100); /* in the file, through the mapping */
	memset(page + PAGE, 0x5a, 100);
	private[7] = (unsigned char)~private[7]; /* only in this mapping */
	close(fmap);
	unlink(pbig);
	unlink(plog);
	unlink(pmap);
	unlink(pboth);
	unlink(psparse);

	fx_ready();
	fx_wait_verify();

	off_t pos = lseek(fbig, 0, SEEK_CUR);
	if (pos != 12345)
		fx_note_failure("the big file is at offset %lld, expected 12345", (long long)pos);
	reads(fbig, 0, big, sizeof(big), "the big file");
	still_deleted(fbig, pbig, "the big file");
	if (write(fbig, "x", 1) != 1 || lseek(fbig, 0, SEEK_CUR) != 12346)
		fx_note_failure("the big file does not write on at its offset");
	if (!(fcntl(flog, F_GETFL) & O_APPEND) || (fcntl(flog, F_GETFL) & O_ACCMODE) != O_WRONLY)
		fx_note_failure("the log lost O_WRONLY|O_APPEND");
	if (write(flog, "second\n", 7) != 7)
		fx_note_failure("the log does not write: %s", strerror(errno));
	struct stat st;
	if (fstat(flog, &st) || st.st_size != 18)
		fx_note_failure("the log is %lld bytes after its append, expected 18", (long long)st.st_size);
	still_deleted(flog, plog, "the log");
	if (memcmp(shared, page, sizeof(page)))
		fx_note_failure("the shared mapping of the deleted file differs");
	if (private[7] != (unsigned char)~page[7] || memcmp(private + 8, page + 8, PAGE - 8))
		fx_note_failure("the private mapping of the deleted file lost its change");
	if (memcmp(bothmap, both, PAGE))
		fx_note_failure("the mapping of the open deleted file differs");
	if (pwrite(fboth, "same", 4, 10) != 4 || memcmp(bothmap + 10, "same", 4))
		fx_note_failure("the fd and the mapping of one deleted file are two files now");
	still_deleted(fboth, pboth, "the open and mapped file");
	if (fstat(fsparse, &st) || st.st_size != SPARSE)
		fx_note_failure("the sparse file is %lld bytes, expected %d", (long long)st.st_size, SPARSE);
	reads(fsparse, SPARSE - PAGE, sparse, PAGE, "the sparse file's data");
	static unsigned char zero[SPARSE - PAGE];
	reads(fsparse, 0, zero, sizeof(zero), "the sparse file's hole");
	still_deleted(fsparse, psparse, "the sparse file");
	rmdir(dir);
	fx_finish();
}

static int linked(void)
{
	char path[256], other[256];
	unsigned char data[5000];

	pattern(data, sizeof(data), 5);
	int fd = make("opened", data, sizeof(data), 0, O_RDWR, path);
	snprintf(other, sizeof(other), "%s/other-name", dir);
	if (link(path, other) || unlink(path))
		fx_fail("link/unlink: %s", strerror(errno));
	if (lseek(fd, 777, SEEK_SET) != 777)
		fx_fail("lseek: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	struct stat a, b;
	if (fstat(fd, &a) || stat(other, &b))
		fx_fail("stat: %s", strerror(errno));
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fx_note_failure("the fd and %s are two files now", other);
	if (a.st_nlink != 1)
		fx_note_failure("the file has %lu links, expected 1 (a link remap left behind?)", (unsigned long)a.st_nlink);
	if (lseek(fd, 0, SEEK_CUR) != 777)
		fx_note_failure("the fd lost its offset");
	reads(fd, 0, data, sizeof(data), "the file");
	if (pwrite(fd, "via-fd", 6, 0) != 6)
		fx_note_failure("write: %s", strerror(errno));
	int o = open(other, O_RDONLY);
	char got[6];
	if (o < 0 || pread(o, got, 6, 0) != 6 || memcmp(got, "via-fd", 6))
		fx_note_failure("a write through the fd does not show under %s", other);
	named_deleted(fd, path, "the linked file");
	unlink(other);
	rmdir(dir);
	fx_finish();
}

int main(int argc, char **argv)
{
	const char *mode = fx_opt_str(argc, argv, "mode", "ghost");

	fx_init("deleted-files");
	snprintf(dir, sizeof(dir), "%s", fx_opt_str(argc, argv, "dir", "/tmp/cryo-deleted-XXXXXX"));
	if (strstr(dir, "XXXXXX") && !mkdtemp(dir))
		fx_fail("mkdtemp: %s", strerror(errno));
	return strcmp(mode, "link") ? ghosts() : linked();
}
