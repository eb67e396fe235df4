/*
 * creds: a process of another user, as a daemon that drops root becomes one. Started as root, it makes its
 * directory writable for the verdict, then takes uids and gids of its own: real 65534, effective 65533, saved
 * 65532 and fs 65531 (as pid00 of CRIU's zdtm, the fs ids apart from the effective ones), the supplementary
 * groups 65534 and 100, and keeps CAP_NET_BIND_SERVICE alone, permitted and effective (PR_SET_KEEPCAPS across the
 * uid change, then capset), with securebits SECBIT_NOROOT, locked (and SECBIT_KEEP_CAPS, which PR_SET_KEEPCAPS sets).
 * Verdict: the same uids, gids, groups, capability sets (/proc/self/status) and securebits, and the kept
 * capability works: a TCP socket binds a port below 1024 on 127.0.0.1.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOBODY 65534

/* The value of key in /proc/self/status, or "" */
static void status(const char *key, char *out, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			char *v = line + strlen(key) + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = 0;
			snprintf(out, len, "%s", v);
		}
	if (f)
		fclose(f);
}

static const char *keys[] = {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
#define NKEYS (int)(sizeof(keys) / sizeof(keys[0]))

int main(void)
{
	gid_t groups[] = {NOBODY, 100};
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	char want[NKEYS][256], now[256];
	int i;

	fx_init("creds");
	if (chmod(".", 0777))
		fx_fail("chmod .: %s", strerror(errno));
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED))
		fx_fail("PR_SET_SECUREBITS: %s", strerror(errno));
	if (setgroups(2, groups) || setresgid(NOBODY, NOBODY - 1, NOBODY - 2) || prctl(PR_SET_KEEPCAPS, 1))
		fx_fail("becoming gid %d: %s", NOBODY, strerror(errno));
	setfsgid(NOBODY - 3); /* as root: any value */
	if (setresuid(NOBODY, NOBODY - 1, NOBODY - 2))
		fx_fail("becoming uid %d: %s", NOBODY, strerror(errno));
	/* the fsuid is the euid now; another takes CAP_SETUID in effect, which the uid change emptied */
	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = 1u << CAP_SETUID;
	d[0].permitted |= 1u << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &h, d))
		fx_fail("capset for setfsuid: %s", strerror(errno));
	setfsuid(NOBODY - 3);
	if ((int)setfsuid(-1) != NOBODY - 3 || (int)setfsgid(-1) != NOBODY - 3)
		fx_fail("fs ids %d %d, wanted %d", (int)setfsuid(-1), (int)setfsgid(-1), NOBODY - 3);
	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = 1u << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &h, d))
		fx_fail("capset: %s", strerror(errno));
	for (i = 0; i < NKEYS; i++)
		status(keys[i], want[i], sizeof(want[i]));
	int secure = prctl(PR_GET_SECUREBITS);

	fx_ready();
	fx_wait_verify();

	for (i = 0; i < NKEYS; i++) {
		status(keys[i], now, sizeof(now));
		if (strcmp(now, want[i]))
			fx_note_failure("%s is '%s', expected '%s'", keys[i], now, want[i]);
	}
	if (prctl(PR_GET_SECUREBITS) != secure)
		fx_note_failure("securebits are %#x, expected %#x", prctl(PR_GET_SECUREBITS), secure);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(999), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)))
		fx_note_failure("binding port 999 with CAP_NET_BIND_SERVICE: %s", strerror(errno));
	fx_finish();
}
