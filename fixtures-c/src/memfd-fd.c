/*
 * memfd-fd: memfds held as fds, not only mapped.
 *
 * "plain": 10000 bytes, fd at offset 4321, a dup of it (same description) and a second read-only open
 * through /proc/self/fd (its own description, offset 0). "mapped": 8192 bytes, mapped shared and held open at
 * offset 100, sealed against shrinking and growing.
 * Verdict: names, sizes, contents, offsets, access modes and FD_CLOEXEC are kept; the dup still shares its offset and
 * the second open does not; a write through the fd of "mapped" shows in its mapping (one object); the seals hold.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char plain[10000], mapped[8192];

static void named(int fd, const char *want)
{
	char link[64], target[256];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = 0;
	if (strcmp(target, want))
		fx_note_failure("fd %d is \"%s\", expected \"%s\"", fd, target, want);
}

int main(void)
{
	unsigned long long s = 7;

	fx_init("memfd-fd");
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (unsigned char)fx_rand(&s);
	for (size_t i = 0; i < sizeof(mapped); i++)
		mapped[i] = (unsigned char)fx_rand(&s);
	int a = memfd_create("plain", MFD_CLOEXEC);
	int b = memfd_create("mapped", MFD_ALLOW_SEALING);
	if (a < 0 || b < 0)
		fx_fail("memfd_create: %s", strerror(errno));
	if (write(a, plain, sizeof(plain)) != sizeof(plain) || write(b, mapped, sizeof(mapped)) != sizeof(mapped))
		fx_fail("write: %s", strerror(errno));
	lseek(a, 4321, SEEK_SET);
	lseek(b, 100, SEEK_SET);
	int dup_a = dup(a);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", a);
	int ro = open(self, O_RDONLY);
	unsigned char *map = mmap(NULL, sizeof(mapped), PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	if (dup_a < 0 || ro < 0 || map == MAP_FAILED)
		fx_fail("dup/open/mmap: %s", strerror(errno));
	if (fcntl(b, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		fx_fail("F_ADD_SEALS: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	named(a, "/memfd:plain (deleted)");
	named(ro, "/memfd:plain (deleted)");
	named(b, "/memfd:mapped (deleted)");
	if (lseek(a, 0, SEEK_CUR) != 4321 || lseek(dup_a, 0, SEEK_CUR) != 4321)
		fx_note_failure("plain: offset %lld, expected 4321", (long long)lseek(a, 0, SEEK_CUR));
	if (lseek(ro, 0, SEEK_CUR) != 0)
		fx_note_failure("the second open of plain is at %lld, expected 0", (long long)lseek(ro, 0, SEEK_CUR));
	if (lseek(b, 0, SEEK_CUR) != 100)
		fx_note_failure("mapped: offset %lld, expected 100", (long long)lseek(b, 0, SEEK_CUR));
	struct stat st;
	if (fstat(a, &st) || st.st_size != (off_t)sizeof(plain)) /* not a page multiple: no page's tail added */
		fx_note_failure("plain: size %lld, expected %zu", (long long)st.st_size, sizeof(plain));
	unsigned char buf[10000];
	if (pread(ro, buf, sizeof(plain), 0) != sizeof(plain) || memcmp(buf, plain, sizeof(plain)))
		fx_note_failure("plain: contents differ");
	if (!(fcntl(a, F_GETFD) & FD_CLOEXEC) || (fcntl(b, F_GETFD) & FD_CLOEXEC))
		fx_note_failure("FD_CLOEXEC not kept");
	if ((fcntl(ro, F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(a, F_GETFL) & O_ACCMODE) != O_RDWR)
		fx_note_failure("access modes not kept");
	lseek(dup_a, 10, SEEK_SET);
	if (lseek(a, 0, SEEK_CUR) != 10)
		fx_note_failure("plain and its dup no longer share their offset");
	if (lseek(ro, 0, SEEK_CUR) != 0)
		fx_note_failure("the second open of plain shares the offset of the first");
	if (write(a, "abc", 3) != 3 || pread(ro, buf, 3, 10) != 3 || memcmp(buf, "abc", 3))
		fx_note_failure("the two opens of plain are two objects");
	if (memcmp(map, mapped, sizeof(mapped)))
		fx_note_failure("mapped: the mapping's contents differ");
	if (pwrite(b, "xyz", 3, 50) != 3 || memcmp(map + 50, "xyz", 3))
		fx_note_failure("mapped: a write through the fd does not show in the mapping");
	int seals = fcntl(b, F_GET_SEALS);
	if (seals != (F_SEAL_SHRINK | F_SEAL_GROW))
		fx_note_failure("mapped: seals %#x, expected %#x", seals, F_SEAL_SHRINK | F_SEAL_GROW);
	if (ftruncate(b, 4096) == 0)
		fx_note_failure("mapped: shrinks despite F_SEAL_SHRINK");
	fx_finish();
}
