/*
 * forktree: a process tree --depth=D (default 2) deep, --width=W (default 2) wide, in one session.
 *
 * Every process remembers its pid, parent, process group and session and sleeps in steps.
 * Verdict: on SIGUSR2 the root asks its children (SIGUSR2), each asks its own, and each process
 * exits 0 only if its ids are unchanged and all its children exited 0; the root passes on that.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 16

static pid_t kids[MAX_KIDS];
static int nkids;
/* every process but the root writes one byte here once it stands, so the root knows the tree is whole */
static int born[2];

static int ids_unchanged(pid_t pid, pid_t ppid, pid_t pgid, pid_t sid)
{
	if (getpid() != pid || getppid() != ppid || getpgid(0) != pgid || getsid(0) != sid) {
		fprintf(stderr, "forktree: pid %d ppid %d pgid %d sid %d, expected %d %d %d %d\n",
			getpid(), getppid(), getpgid(0), getsid(0), pid, ppid, pgid, sid);
		return 0;
	}
	return 1;
}

/* Asks the children, waits for them, returns 1 when all passed. */
static int children_passed(void)
{
	int ok = 1, status;

	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGUSR2);
	for (int i = 0; i < nkids; i++) {
		while (waitpid(kids[i], &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "forktree: cannot wait for %d\n", kids[i]);
				return 0;
			}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	return ok;
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
			close(born[0]);
			grow(depth - 1, width);
			if (write(born[1], "x", 1) != 1)
				_exit(1);
			close(born[1]);
			while (!fx_verify_requested())
				fx_sleep_ms(100);
			_exit(ids_unchanged(me, parent, pgid, sid) && children_passed() ? 0 : 1);
		}
		kids[nkids++] = kid;
	}
}

int main(int argc, char **argv)
{
	int depth = (int)fx_opt_long(argc, argv, "depth", 2);
	int width = (int)fx_opt_long(argc, argv, "width", 2);
	pid_t me = getpid(), parent = getppid(), pgid = getpgid(0), sid = getsid(0);

	fx_init("forktree");
	if (width > MAX_KIDS)
		fx_fail("bad --width=%d", width);
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
	fx_ready();
	fx_wait_verify();
	if (!ids_unchanged(me, parent, pgid, sid))
		fx_fail("the root's ids changed (see stderr)");
	if (!children_passed())
		fx_fail("a process of the tree failed its check (see stderr)");
	fx_pass();
}
