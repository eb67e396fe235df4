/*
 * cryo-init: pid 1 of a conformance sandbox (a pid namespace or a container).
 *
 * Brings the loopback interface up and lets every group make ICMP ping sockets (net.ipv4.ping_group_range
 * "0 2147483647", as Docker sets it in a container; every sandbox has a network namespace of its own, so the
 * host's setting is untouched), writes "<pid>\n" to argv[1] when ready, then reaps every
 * child that dies (orphans of the sandbox, restored trees once the engine detaches), so no zombie
 * ever holds a pid a restore needs. SIGTERM ends it, and with it the whole pid namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			fprintf(stderr, "cryo-init: cannot bring lo up: %s\n", strerror(errno));
	}
	close(fd);
}

/* Only the kernel's default ("1 0": nobody) is widened; a range someone chose stays. */
static void ping_groups_open(void)
{
	char cur[64] = "";
	int fd = open("/proc/sys/net/ipv4/ping_group_range", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	if (read(fd, cur, sizeof(cur) - 1) > 0 && strncmp(cur, "1\t0", 3) == 0) {
		const char *all = "0 2147483647\n";

		if (pwrite(fd, all, strlen(all), 0) < 0)
			fprintf(stderr, "cryo-init: cannot open ping sockets to every group: %s\n", strerror(errno));
	}
	close(fd);
}

static void on_term(int sig) { (void)sig; _exit(0); }
static void on_child(int sig) { (void)sig; }

int main(int argc, char **argv)
{
	sigset_t none, chld;

	/* pid 1 gets no default actions: SIGTERM must be handled to end the sandbox */
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGCHLD, on_child);
	/* SIGCHLD stays blocked outside sigsuspend, so a death between two waits is never missed */
	sigemptyset(&none);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	loopback_up();
	ping_groups_open();
	if (argc > 1) {
		char tmp[4096], line[32];
		int fd;

		snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
		snprintf(line, sizeof(line), "%d\n", getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, line, strlen(line)) < 0 || rename(tmp, argv[1]) < 0) {
			fprintf(stderr, "cryo-init: cannot write %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		close(fd);
	}
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sigsuspend(&none);
	}
}
