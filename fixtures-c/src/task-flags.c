/*
 * task-flags: prctl flags /proc does not show: child subreaper and THP disabled.
 * Verdict: PR_GET_CHILD_SUBREAPER and PR_GET_THP_DISABLE read 1 again.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

int main(void)
{
	fx_init("task-flags");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		fx_fail("prctl: %s", strerror(errno));

	fx_ready();
	fx_wait_verify();

	int subreaper = 0;
	if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper) || subreaper != 1)
		fx_note_failure("child subreaper is %d, expected 1", subreaper);
	int thp = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (thp != 1)
		fx_note_failure("THP disable reads %d, expected 1", thp);
	fx_finish();
}
