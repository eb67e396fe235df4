/*
 * task-flags: task state /proc does not show, or not all of it: child subreaper, THP disabled, no_new_privs,
 * not dumpable, a personality flag (UNAME26), a registration for private expedited membarriers (where the kernel
 * has them), and a child whose parent-death signal is SIGTERM.
 * Verdict: PR_GET_CHILD_SUBREAPER, PR_GET_THP_DISABLE, PR_GET_NO_NEW_PRIVS read 1, PR_GET_DUMPABLE 0, the
 * personality has UNAME26 again, a private expedited membarrier succeeds (EPERM when the registration was lost),
 * and the child reads SIGTERM from PR_GET_PDEATHSIG (its exit code says so).
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

int main(void)
{
	pid_t kid;

	fx_init("task-flags");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		fx_fail("prctl: %s", strerror(errno));
	kid = fork();
	if (kid < 0)
		fx_fail("fork: %s", strerror(errno));
	if (kid == 0) {
		int sig = 0;
		if (prctl(PR_SET_PDEATHSIG, SIGTERM))
			_exit(2);
		fx_wait_verify();
		_exit(prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGTERM ? 0 : 1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0) || personality(PER_LINUX | UNAME26) < 0)
		fx_fail("prctl or personality: %s", strerror(errno));
	long barriers = membarrier(MEMBARRIER_CMD_QUERY);
	int expedited = barriers > 0 && (barriers & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
	if (expedited && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
		fx_fail("membarrier register: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	int subreaper = 0;
	if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper) || subreaper != 1)
		fx_note_failure("child subreaper is %d, expected 1", subreaper);
	int thp = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (thp != 1)
		fx_note_failure("THP disable reads %d, expected 1", thp);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fx_note_failure("no_new_privs is not set");
	if (prctl(PR_GET_DUMPABLE) != 0)
		fx_note_failure("dumpable is %d, expected 0", prctl(PR_GET_DUMPABLE));
	int pers = personality(0xffffffff);
	if (pers < 0 || !(pers & UNAME26))
		fx_note_failure("personality is %#x, expected UNAME26 (%#x) in it", pers, UNAME26);
	if (expedited && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		fx_note_failure("a private expedited membarrier fails (%s): the registration was lost", strerror(errno));
	if (!fx_children_passed(&kid, 1))
		fx_note_failure("the child's parent-death signal is not SIGTERM any more");
	fx_finish();
}
