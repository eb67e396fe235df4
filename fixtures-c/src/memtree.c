/*
 * memtree: a tree of --tasks=N processes (default 100, --width=W children a task, default 10), each with
 * --own-kib=K KiB of private memory of its own (default 1024) and all sharing --shared-mib=S MiB of shared
 * anonymous memory (default 16) the root mapped before the first fork. The bench's process-tree row.
 *
 * Task i (the root is 0) forks tasks i*W+1 .. i*W+W below N, then maps its own memory and fills every page
 * with a pattern of its index. The root fills every page of the shared mapping before any fork; the slots page
 * of the shared mapping (its first) holds one byte per task.
 * Verdict: on SIGUSR2 the root asks its children, each asks its own; each task checks its ids, its own pages
 * and every page of the shared mapping, then writes its slot in the shared mapping and exits 0 only if all its
 * children did. The root checks the same, then that every task's slot came through the shared mapping (a
 * restore that gave each task its own copy fails there).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define MAX_TASKS 4096
#define MAX_WIDTH 64
#define SLOT_DONE 0x5a

static int ntasks, width;
static long own_pages, shared_pages;
static unsigned char *shared, *own;
static pid_t kids[MAX_WIDTH];
static int nkids;
static int born[2];

static unsigned char shared_byte(long page, int i) { return (unsigned char)(page * 131 + i % 251 + 7); }
static unsigned char own_byte(int task, long page, int i) { return (unsigned char)(task * 37 + page * 11 + i % 253); }

static int shared_intact(void)
{
	/* page 0 holds the slots; the others keep the root's pattern */
	for (long p = 1; p < shared_pages; p++)
		for (int i = 0; i < PAGE; i += 64)
			if (shared[p * PAGE + i] != shared_byte(p, i))
				return 0;
	return 1;
}

static int own_intact(int task)
{
	for (long p = 0; p < own_pages; p++)
		for (int i = 0; i < PAGE; i += 64)
			if (own[p * PAGE + i] != own_byte(task, p, i))
				return 0;
	return 1;
}

static void take_own(int task)
{
	own = mmap(NULL, own_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED) {
		fprintf(stderr, "memtree: task %d cannot map its memory: %s\n", task, strerror(errno));
		_exit(1);
	}
	for (long p = 0; p < own_pages; p++)
		for (int i = 0; i < PAGE; i++)
			own[p * PAGE + i] = own_byte(task, p, i);
}

static void grow(int task);

static void child(int task)
{
	pid_t me = getpid(), parent = getppid();
	int ok;

	nkids = 0;
	close(born[0]);
	grow(task);
	take_own(task);
	if (write(born[1], "x", 1) != 1)
		_exit(1);
	close(born[1]);
	while (!fx_verify_requested())
		fx_sleep_ms(100);
	ok = getpid() == me && getppid() == parent;
	if (!ok)
		fprintf(stderr, "memtree: task %d: pid %d ppid %d, expected %d %d\n", task, getpid(), getppid(), me, parent);
	if (ok && !own_intact(task)) {
		fprintf(stderr, "memtree: task %d: its own pages came back wrong\n", task);
		ok = 0;
	}
	if (ok && !shared_intact()) {
		fprintf(stderr, "memtree: task %d: the shared pages came back wrong\n", task);
		ok = 0;
	}
	if (ok)
		shared[task] = SLOT_DONE;
	_exit(fx_children_passed(kids, nkids) && ok ? 0 : 1);
}

static void grow(int task)
{
	for (int k = 1; k <= width; k++) {
		int next = task * width + k;
		pid_t kid;

		if (next >= ntasks)
			break;
		kid = fork();
		if (kid < 0) {
			fprintf(stderr, "memtree: cannot fork task %d\n", next);
			_exit(1);
		}
		if (kid == 0)
			child(next); /* never returns */
		kids[nkids++] = kid;
	}
}

int main(int argc, char **argv)
{
	pid_t me, parent;

	ntasks = (int)fx_opt_long(argc, argv, "tasks", 100);
	width = (int)fx_opt_long(argc, argv, "width", 10);
	own_pages = fx_opt_long(argc, argv, "own-kib", 1024) * 1024 / PAGE;
	shared_pages = fx_opt_long(argc, argv, "shared-mib", 16) * 1024 * 1024 / PAGE;
	fx_init("memtree");
	if (ntasks < 1 || ntasks > MAX_TASKS || width < 1 || width > MAX_WIDTH || own_pages < 1 || shared_pages < 2
	    || shared_pages * PAGE < ntasks)
		fx_fail("bad options: --tasks=1..%d --width=1..%d --own-kib>=4 --shared-mib>=1", MAX_TASKS, MAX_WIDTH);
	shared = mmap(NULL, shared_pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		fx_fail("cannot map %ld shared pages: %s", shared_pages, strerror(errno));
	memset(shared, 0, PAGE);
	for (long p = 1; p < shared_pages; p++)
		for (int i = 0; i < PAGE; i++)
			shared[p * PAGE + i] = shared_byte(p, i);
	if (pipe(born) < 0)
		fx_fail("cannot make a pipe");
	grow(0);
	close(born[1]);
	for (int got = 0; got < ntasks - 1; got++) {
		char c;

		if (read(born[0], &c, 1) != 1)
			fx_fail("only %d of %d tasks of the tree were born", got + 1, ntasks);
	}
	close(born[0]);
	take_own(0);
	me = getpid();
	parent = getppid(); /* now: the shell that started the root in the background may not have exited at the start */
	fx_ready();
	fx_wait_verify();
	if (getpid() != me || getppid() != parent)
		fx_fail("the root's pid or ppid changed");
	if (!own_intact(0))
		fx_fail("the root's own pages came back wrong");
	if (!shared_intact())
		fx_fail("the shared pages came back wrong in the root");
	if (!fx_children_passed(kids, nkids))
		fx_fail("a task of the tree failed its check (see stderr)");
	for (int t = 1; t < ntasks; t++)
		if (shared[t] != SLOT_DONE)
			fx_fail("task %d's write to the shared memory did not reach the root", t);
	fx_pass();
}
