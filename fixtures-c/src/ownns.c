/*
 * ownns: a tree in network, uts and ipc namespaces of its own (as `unshare -n -u -i` makes them), in the
 * dumper's pid namespace.
 *
 * The root unshares the three, sets its host name, brings lo up, makes a SysV shared memory segment with a
 * pattern, listens on 127.0.0.1 (TCP) and on an abstract unix name, then forks a child that connects over TCP
 * and sends a counter every --step-ms (10) ms, which the root reads and checks in order.
 * Verdict: the host name, lo up, the segment's bytes and size, a connection to the abstract name accepted (it
 * lives in the network namespace), the counter still arriving in order after the restore; the child passes
 * when its connection still carries data.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOST "cryo-ownns"
#define ABSTRACT "cryo-ownns-fixture"
#define PORT 7412
#define SEG 8192

static unsigned char pattern(int i) { return (unsigned char)(i * 13 + 5); }

static int lo_flags(int set_up)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq r;

	memset(&r, 0, sizeof(r));
	strcpy(r.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &r) != 0)
		fx_fail("cannot read lo's flags: %s", strerror(errno));
	if (set_up) {
		r.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &r) != 0)
			fx_fail("cannot bring lo up: %s", strerror(errno));
	}
	close(s);
	return r.ifr_flags;
}

static socklen_t abstract_addr(struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path + 1, ABSTRACT, strlen(ABSTRACT));
	return (socklen_t)(sizeof(sa_family_t) + 1 + strlen(ABSTRACT));
}

static struct sockaddr_in loopback(void)
{
	struct sockaddr_in in;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(PORT);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return in;
}

/* The child: sends 0, 1, 2, ... over TCP; passes once a few more sends went through after its verdict was asked. */
static void __attribute__((noreturn)) sender(long step_ms)
{
	struct sockaddr_in in = loopback();
	int t = socket(AF_INET, SOCK_STREAM, 0);
	unsigned n = 0, at_verdict = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (t < 0 || connect(t, (struct sockaddr *)&in, sizeof(in)) != 0) {
		fprintf(stderr, "ownns: the child cannot connect: %s\n", strerror(errno));
		_exit(1);
	}
	for (;;) {
		if (write(t, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ownns: the child's send %u failed: %s\n", n, strerror(errno));
			_exit(1);
		}
		n++;
		if (fx_verify_requested()) {
			if (!at_verdict)
				at_verdict = n;
			else if (n > at_verdict + 3)
				_exit(0);
		}
		fx_sleep_ms(step_ms);
	}
}

int main(int argc, char **argv)
{
	long step_ms = fx_opt_long(argc, argv, "step-ms", 10);
	struct sockaddr_in in = loopback();
	struct sockaddr_un ua;
	socklen_t ulen = abstract_addr(&ua);
	int one = 1, l, u, t, k, a, shm;
	unsigned char *seg;
	unsigned expect = 0, got;
	char host[64] = { 0 };
	struct shmid_ds ds;
	pid_t kid;

	fx_init("ownns");
	if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) != 0)
		fx_fail("cannot unshare network, uts and ipc namespaces: %s", strerror(errno));
	if (sethostname(HOST, strlen(HOST)) != 0)
		fx_fail("cannot set the host name: %s", strerror(errno));
	lo_flags(1);
	shm = shmget(IPC_PRIVATE, SEG, IPC_CREAT | 0600);
	seg = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
	if (seg == (void *)-1)
		fx_fail("cannot make a SysV segment: %s", strerror(errno));
	for (int i = 0; i < SEG; i++)
		seg[i] = pattern(i);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&in, sizeof(in)) != 0 || listen(l, 4) != 0)
		fx_fail("cannot listen on 127.0.0.1:%d: %s", PORT, strerror(errno));
	u = socket(AF_UNIX, SOCK_STREAM, 0);
	if (u < 0 || bind(u, (struct sockaddr *)&ua, ulen) != 0 || listen(u, 4) != 0)
		fx_fail("cannot listen on @%s: %s", ABSTRACT, strerror(errno));
	kid = fork();
	if (kid < 0)
		fx_fail("cannot fork: %s", strerror(errno));
	if (kid == 0)
		sender(step_ms);
	while ((t = accept(l, NULL, NULL)) < 0)
		if (errno != EINTR)
			fx_fail("cannot accept the child's connection: %s", strerror(errno));
	fcntl(t, F_SETFL, O_NONBLOCK);
	fx_ready();
	while (!fx_verify_requested()) {
		while (read(t, &got, sizeof(got)) == (ssize_t)sizeof(got)) {
			if (got != expect)
				fx_fail("TCP message %u, expected %u", got, expect);
			expect++;
		}
		fx_sleep_ms(step_ms);
	}
	gethostname(host, sizeof(host) - 1);
	if (strcmp(host, HOST) != 0)
		fx_fail("host name '%s', expected '%s'", host, HOST);
	if (!(lo_flags(0) & IFF_UP))
		fx_fail("lo is down");
	if (shmctl(shm, IPC_STAT, &ds) != 0 || ds.shm_segsz != SEG)
		fx_fail("SysV segment %d is gone or resized: %s", shm, strerror(errno));
	for (int i = 0; i < SEG; i++)
		if (seg[i] != pattern(i))
			fx_fail("SysV segment byte %d is %u, expected %u", i, seg[i], pattern(i));
	k = socket(AF_UNIX, SOCK_STREAM, 0);
	if (k < 0 || connect(k, (struct sockaddr *)&ua, ulen) != 0)
		fx_fail("cannot connect to @%s: %s", ABSTRACT, strerror(errno));
	if ((a = accept(u, NULL, NULL)) < 0)
		fx_fail("cannot accept on @%s: %s", ABSTRACT, strerror(errno));
	close(a);
	close(k);
	for (unsigned before = expect; expect < before + 3;) {
		ssize_t n = read(t, &got, sizeof(got));

		if (n == (ssize_t)sizeof(got)) {
			if (got != expect)
				fx_fail("TCP message %u, expected %u", got, expect);
			expect++;
		} else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			fx_fail("the TCP connection ended after %u messages: %s", expect, n == 0 ? "EOF" : strerror(errno));
		} else {
			usleep(1000);
		}
	}
	if (!fx_children_passed(&kid, 1))
		fx_fail("the child failed");
	fx_pass();
}
