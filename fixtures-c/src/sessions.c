/*
 * sessions: a three-level tree with sessions, groups, dead leaders, a zombie and a stopped child.
 *
 * The root (a subreaper, leading its own session and group when it can) makes:
 *   A   leads group A; its child A1 and grandchild A2 are in group A        (three levels, second group)
 *   G1  in group G, whose leader G exited and was reaped                   (dead group leader)
 *   S1  in session S, whose leader S exited and was reaped; S1 leads its own group, and its child S2
 *       is in it                                                            (dead session leader)
 *   Z   a zombie that exited with status 7, not reaped                       (zombie)
 *   T   stopped by SIGSTOP                                                   (stopped child)
 * The orphans G1 and S1 are the root's children (it is their subreaper).
 *
 * Verdict (SIGUSR2 to the root): every task's ppid, pgid, sid and state read from /proc are those at
 * fx_ready; Z is still a zombie and waitpid gives exit 7; T is still stopped; then T is continued and
 * every task checks its own pid and exits; the root reaps what is its to reap.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TASKS 16

struct task {
	const char *name;
	pid_t pid, ppid, pgid, sid;
	char state;
};

static struct task tasks[MAX_TASKS];
static int ntasks;
static int born[2]; /* each task writes its pid once it stands */

static int read_stat(pid_t pid, struct task *t)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid, pgid, sid;
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%c %d %d %d", &state, &ppid, &pgid, &sid) != 4)
		return -1;
	t->pid = pid;
	t->ppid = ppid;
	t->pgid = pgid;
	t->sid = sid;
	t->state = state;
	return 0;
}

/* Waits for verify, then exits 0 if the pid is the one it had. */
static void __attribute__((noreturn)) live_on(pid_t me)
{
	while (!fx_verify_requested())
		fx_sleep_ms(100);
	_exit(getpid() == me ? 0 : 1);
}

static void stand(void)
{
	pid_t me = getpid();

	if (write(born[1], &me, sizeof(me)) != sizeof(me))
		_exit(3);
}

static pid_t spawn(void (*body)(void))
{
	pid_t pid = fork();

	if (pid < 0)
		fx_fail("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		body();
		_exit(0);
	}
	return pid;
}

static void a2(void) { stand(); live_on(getpid()); }
static void a1(void) { spawn(a2); stand(); live_on(getpid()); }
static void a(void) { setpgid(0, 0); spawn(a1); stand(); live_on(getpid()); }
static void g1(void) { stand(); live_on(getpid()); }
static void g(void) { setpgid(0, 0); spawn(g1); _exit(0); }
static void s2(void) { stand(); live_on(getpid()); }
static void s1(void) { setpgid(0, 0); spawn(s2); stand(); live_on(getpid()); }
static void s(void) { setsid(); spawn(s1); _exit(0); }
static void z(void) { _exit(7); }
static void t(void) { stand(); raise(SIGSTOP); live_on(getpid()); }

int main(void)
{
	pid_t zpid, tpid, gpid, spid;
	int status, expect = 7; /* A, A1, A2, G1, S1, S2, T */

	fx_init("sessions");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fx_fail("cannot become a subreaper: %s", strerror(errno));
	setsid(); /* fails when it leads a group already; the tree is checked against what it got */
	if (pipe(born) < 0)
		fx_fail("cannot make a pipe");
	spawn(a);
	gpid = spawn(g);
	spid = spawn(s);
	zpid = spawn(z);
	tpid = spawn(t);
	close(born[1]);
	for (int i = 0; i < expect; i++) {
		pid_t pid;

		if (read(born[0], &pid, sizeof(pid)) != sizeof(pid))
			fx_fail("only %d of %d tasks stood up", i, expect);
		tasks[ntasks].name = "task";
		tasks[ntasks++].pid = pid;
	}
	close(born[0]);
	/* the dead leaders go: their children are the root's now */
	if (waitpid(gpid, &status, 0) != gpid || waitpid(spid, &status, 0) != spid)
		fx_fail("cannot reap the group and session leaders");
	/* the zombie has exited, the stopped child has stopped */
	for (int tries = 0; tries < 1000; tries++) {
		struct task zs = {0}, ts = {0};

		if (read_stat(zpid, &zs) == 0 && zs.state == 'Z' && read_stat(tpid, &ts) == 0 && ts.state == 'T')
			break;
		fx_sleep_ms(10);
	}
	tasks[ntasks++].pid = zpid;
	for (int i = 0; i < ntasks; i++)
		if (read_stat(tasks[i].pid, &tasks[i]) < 0)
			fx_fail("cannot read /proc/%d/stat", tasks[i].pid);
	fx_ready();
	fx_wait_verify();

	for (int i = 0; i < ntasks; i++) {
		struct task now = {0};

		if (read_stat(tasks[i].pid, &now) < 0)
			fx_fail("task %d is gone", tasks[i].pid);
		if (now.ppid != tasks[i].ppid || now.pgid != tasks[i].pgid || now.sid != tasks[i].sid)
			fx_fail("task %d: ppid %d pgid %d sid %d, expected %d %d %d", now.pid, now.ppid, now.pgid,
				now.sid, tasks[i].ppid, tasks[i].pgid, tasks[i].sid);
		if ((tasks[i].state == 'Z' || tasks[i].state == 'T' || tasks[i].state == 't') != (now.state == 'Z'
		    || now.state == 'T' || now.state == 't') || (tasks[i].state == 'Z') != (now.state == 'Z'))
			fx_fail("task %d: state %c, expected %c", now.pid, now.state, tasks[i].state);
	}
	if (waitpid(zpid, &status, WNOHANG) != zpid || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
		fx_fail("zombie %d did not give exit status 7", zpid);
	kill(tpid, SIGCONT);
	for (int i = 0; i < ntasks; i++)
		if (tasks[i].pid != zpid)
			kill(tasks[i].pid, SIGUSR2);
	/* the root is everyone's reaper in the end: A1 and A2 come to it as their parents exit */
	for (int left = expect; left > 0; left--) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
			fx_fail("lost %d tasks: %s", left, strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fx_fail("task %d failed its own check (status %#x)", pid, status);
	}
	fx_pass();
}
