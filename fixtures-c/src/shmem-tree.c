/*
 * shmem-tree: shared anonymous memory between a parent and its child.
 *
 * The parent maps MAP_SHARED|MAP_ANONYMOUS (4 pages) and /dev/zero shared (2 pages), then forks; each process
 * writes its own page of each mapping before the dump (the parent page 0, the child page 1).
 * Verdict (SIGUSR2 to the parent): both pages of the dump are there; the parent writes page 2 of each and wakes
 * the child, which must see those writes (one object, not a copy), then writes page 3; the parent must see the
 * child's writes. A restore that gives each task its own copy fails.
 *
 * --tick-ms=N (default 0: off): until the verdict, parent and child each count in a shared page (their own
 * word of it) and in a private variable every N ms; at the verdict each checks that the shared count equals its
 * private one. A dump that saves shared memory from an older moment than the tasks (a pre-dump's copy, say)
 * fails that.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static int holds(unsigned char *region, int page, unsigned char v)
{
	for (int i = 0; i < PAGE; i++)
		if (region[page * PAGE + i] != (unsigned char)(v + i % 7))
			return 0;
	return 1;
}

static void fill(unsigned char *region, int page, unsigned char v)
{
	for (int i = 0; i < PAGE; i++)
		region[page * PAGE + i] = (unsigned char)(v + i % 7);
}

static void wait_byte(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

/* ticks[0] the child's, ticks[1] the parent's shared counts; each process's own count is private */
static volatile unsigned long *ticks;
static unsigned long mine;

static void tick(int who)
{
	ticks[who]++;
	mine++;
}

int main(int argc, char **argv)
{
	unsigned char *anon, *zero;
	int zfd, go[2], done[2], status;
	pid_t kid;
	long tick_ms = fx_opt_long(argc, argv, "tick-ms", 0);

	fx_init("shmem-tree");
	ticks = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ticks == MAP_FAILED)
		fx_fail("cannot map shared memory: %s", strerror(errno));
	anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	zfd = open("/dev/zero", O_RDWR);
	zero = zfd < 0 ? MAP_FAILED : mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
	if (anon == MAP_FAILED || zero == MAP_FAILED)
		fx_fail("cannot map shared memory: %s", strerror(errno));
	close(zfd);
	if (pipe(go) < 0 || pipe(done) < 0)
		fx_fail("cannot make pipes");
	fill(anon, 0, 0x10);
	fill(zero, 0, 0x20);
	kid = fork();
	if (kid < 0)
		fx_fail("cannot fork");
	if (kid == 0) {
		fill(anon, 1, 0x30);
		fill(zero, 1, 0x40);
		if (write(done[1], "r", 1) != 1)
			_exit(2);
		if (tick_ms > 0) {
			struct pollfd pf = { .fd = go[0], .events = POLLIN };

			while (poll(&pf, 1, (int)tick_ms) <= 0)
				tick(0);
		}
		wait_byte(go[0]);
		if (ticks[0] != mine)
			_exit(6); /* the shared count is not the one this process made */
		if (!holds(anon, 0, 0x10) || !holds(anon, 1, 0x30) || !holds(zero, 0, 0x20) || !holds(zero, 1, 0x40))
			_exit(3);
		if (!holds(anon, 2, 0x50) || !holds(zero, 2, 0x60))
			_exit(4); /* the parent's writes after the restore did not reach the child */
		fill(anon, 3, 0x70);
		fill(zero, 3, 0x80);
		if (write(done[1], "v", 1) != 1)
			_exit(5);
		_exit(0);
	}
	wait_byte(done[0]);
	if (!holds(anon, 1, 0x30) || !holds(zero, 1, 0x40))
		fx_fail("the child's writes before the dump are not shared");
	fx_ready();
	if (tick_ms > 0)
		while (!fx_verify_requested()) {
			tick(1);
			fx_sleep_ms(tick_ms);
		}
	fx_wait_verify();
	if (ticks[1] != mine)
		fx_fail("the parent's shared count is %lu, its own %lu: shared memory came back from another moment",
			ticks[1], mine);
	if (!holds(anon, 0, 0x10) || !holds(anon, 1, 0x30) || !holds(zero, 0, 0x20) || !holds(zero, 1, 0x40))
		fx_fail("the pages written before the dump came back wrong");
	fill(anon, 2, 0x50);
	fill(zero, 2, 0x60);
	if (write(go[1], "g", 1) != 1)
		fx_fail("cannot wake the child");
	wait_byte(done[0]);
	if (waitpid(kid, &status, 0) != kid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fx_fail("the child failed its check (status %#x: 3 old pages, 4 the parent's new writes, 6 its shared "
			"count)", status);
	if (!holds(anon, 3, 0x70) || !holds(zero, 3, 0x80))
		fx_fail("the child's writes after the restore did not reach the parent");
	fx_pass();
}
