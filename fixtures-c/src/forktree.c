/*
 * forktree: a process tree --depth=D (default 2) deep, --width=W (default 2) wide, in one session.
 *
 * Every process remembers its pid, parent, process group and session and sleeps in steps.
 * Verdict: on SIGUSR2 the root asks its children (SIGUSR2), each asks its own, and each process
 * exits 0 only if its ids are unchanged and all its children exited 0; the root passes on that.
 *
 * --pages=N (default 0): the root maps N private pages before the tree grows (so they start shared
 * copy-on-write by every process), and every process then rewrites 3 random pages per step with its pid and
 * a generation, which it also keeps in a table of its own; at the verdict each process checks that every
 * page holds what its table says: a page restored from another process fails. Each process also counts its
 * steps twice, privately and in its slot of a page of shared anonymous memory: a private memory restored from
 * an older moment than the shared page (an incremental dump that left a written page to its parent) fails.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 16

static pid_t kids[MAX_KIDS];
static int nkids;
/* every process but the root writes one byte here once it stands, so the root knows the tree is whole */
static int born[2];

#define PAGE 4096

static long npages;
static unsigned char *mem;		/* npages pages, private */
static unsigned long long *gens;	/* per page: (writer pid << 32) | generation */
static unsigned long long rng;
/* shared by the whole tree: each process's step count, by pid */
static struct slot { volatile int pid; volatile unsigned long steps; } *slots;
#define SLOTS (PAGE / sizeof(struct slot))
static struct slot *mine;
/* the private count lives in the mapped table (gens[npages]): a program's globals are in the file-backed data
 * segment, which trackers do not follow, and would always come back current */
#define own_steps gens[npages]

static struct slot *slot_of(pid_t pid)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[(pid + i) % SLOTS];

		if (s->pid == pid || __sync_bool_compare_and_swap(&s->pid, 0, pid))
			return s;
	}
	fprintf(stderr, "forktree: no slot left for pid %d\n", pid);
	_exit(1);
}

static unsigned long long word(unsigned long long g, int w)
{
	return g * 0x9E3779B97F4A7C15ULL + (unsigned long long)w;
}

/* Rewrites page i as this process's next generation of it; the table last, so a freeze between is consistent. */
static void stamp(long i)
{
	unsigned long long g = ((unsigned long long)getpid() << 32) | ((gens[i] + 1) & 0xffffffffULL);
	unsigned long long *p = (unsigned long long *)(mem + i * PAGE);

	for (int w = 0; w < PAGE / 8; w++)
		p[w] = word(g, w);
	gens[i] = g;
}

static void churn(void)
{
	if (npages == 0)
		return;
	if (!mine)
		mine = slot_of(getpid());
	for (int k = 0; k < 3; k++)
		stamp((long)(fx_rand(&rng) % (unsigned long long)npages));
	mine->steps++;
	own_steps++;
}

static int pages_hold(void)
{
	if (npages > 0 && mine && mine->steps != own_steps) {
		fprintf(stderr, "forktree: pid %d counted %lu steps in shared memory but %llu in its own: its own memory "
			"came back from another moment\n", getpid(), mine->steps, own_steps);
		return 0;
	}
	for (long i = 0; i < npages; i++) {
		unsigned long long *p = (unsigned long long *)(mem + i * PAGE);

		for (int w = 0; w < PAGE / 8; w++)
			if (p[w] != word(gens[i], w)) {
				fprintf(stderr, "forktree: pid %d page %ld word %d holds %#llx, its table says writer %llu "
					"generation %llu\n", getpid(), i, w, p[w], gens[i] >> 32, gens[i] & 0xffffffffULL);
				return 0;
			}
	}
	return 1;
}

static int ids_unchanged(pid_t pid, pid_t ppid, pid_t pgid, pid_t sid)
{
	if (getpid() != pid || getppid() != ppid || getpgid(0) != pgid || getsid(0) != sid) {
		fprintf(stderr, "forktree: pid %d ppid %d pgid %d sid %d, expected %d %d %d %d\n",
			getpid(), getppid(), getpgid(0), getsid(0), pid, ppid, pgid, sid);
		return 0;
	}
	return 1;
}

static void grow(int depth, int width)
{
	for (int i = 0; i < width && depth > 0; i++) {
		pid_t kid = fork();

		if (kid < 0) {
			fprintf(stderr, "forktree: cannot fork\n");
			_exit(1);
		}
		if (kid == 0) {
			pid_t me = getpid(), parent = getppid(), pgid = getpgid(0), sid = getsid(0);

			nkids = 0;
			mine = NULL;
			if (npages > 0)
				own_steps = 0;
			rng ^= (unsigned long long)me * 0x2545F4914F6CDD1DULL;
			close(born[0]);
			grow(depth - 1, width);
			if (write(born[1], "x", 1) != 1)
				_exit(1);
			close(born[1]);
			while (!fx_verify_requested()) {
				churn();
				fx_sleep_ms(100);
			}
			_exit(ids_unchanged(me, parent, pgid, sid) && pages_hold() && fx_children_passed(kids, nkids) ? 0 : 1);
		}
		kids[nkids++] = kid;
	}
}

int main(int argc, char **argv)
{
	int depth = (int)fx_opt_long(argc, argv, "depth", 2);
	int width = (int)fx_opt_long(argc, argv, "width", 2);
	pid_t me, parent, pgid, sid;

	fx_init("forktree");
	npages = fx_opt_long(argc, argv, "pages", 0);
	if (width > MAX_KIDS)
		fx_fail("bad --width=%d", width);
	if (npages < 0)
		fx_fail("bad --pages=%ld", npages);
	rng = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)getpid();
	if (npages > 0) {
		mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		gens = mmap(NULL, (npages + 1) * sizeof(*gens), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		slots = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED || gens == MAP_FAILED || slots == MAP_FAILED)
			fx_fail("cannot map %ld pages", npages);
		for (long i = 0; i < npages; i++)
			stamp(i);
	}
	if (pipe(born) < 0)
		fx_fail("cannot make a pipe");
	grow(depth, width);
	close(born[1]);
	for (int expect = 0, level = 1, d = 0; d < depth; d++) {
		char c;

		level *= width;
		expect += level;
		if (d == depth - 1)
			for (int got = 0; got < expect; got++)
				if (read(born[0], &c, 1) != 1)
					fx_fail("only %d of %d processes of the tree were born", got, expect);
	}
	close(born[0]);
	/*
	 * The root's ids as the dump will see them: taken now, not at the start, when the shell that started the root
	 * in the background may not have exited yet (its parent then changes from the shell to its reaper).
	 */
	me = getpid();
	parent = getppid();
	pgid = getpgid(0);
	sid = getsid(0);
	fx_ready();
	if (npages > 0)
		while (!fx_verify_requested()) {
			churn();
			fx_sleep_ms(100);
		}
	else
		fx_wait_verify();
	if (!ids_unchanged(me, parent, pgid, sid))
		fx_fail("the root's ids changed (see stderr)");
	if (!pages_hold())
		fx_fail("the root's pages are not what it wrote (see stderr)");
	if (!fx_children_passed(kids, nkids))
		fx_fail("a process of the tree failed its check (see stderr)");
	fx_pass();
}
