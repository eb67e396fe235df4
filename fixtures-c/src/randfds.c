/*
 * randfds: a set of fds described by --fds=SPEC (the conformance fd property draws it), each put in a given state
 * and checking that state itself, again and again while the fixture runs and once more at the verdict.
 *
 * SPEC lists fds, comma separated, each KIND:ARGS; fd #I is the I-th in the list (0-based):
 *   eventfd:COUNT:sem|plain          an eventfd holding COUNT (EFD_SEMAPHORE or not), non-blocking
 *   pipe:N                           a pipe with N bytes in flight (N < 64 KiB)
 *   unix:stream|dgram|seqpacket:M    a socketpair, M messages queued from one end to the other
 *   timerfd:mono|real|boot:IVL:INIT  a timerfd, interval IVL ms, first expiry in INIT ms (0: disarmed)
 *   signalfd:SIG                     a signalfd reading SIG (blocked), with SIG pending (an RT one with a payload)
 *   inotify:W                        an inotify with W watches (1-3) on files of the fixture's directory
 *   epoll:I.J.K                      an epoll watching fds #I, #J, #K (earlier ones; '.'-separated, may be empty)
 *                                    for EPOLLIN and more bits, each with its own 64-bit data
 *   memfd:SIZE:SEALS                 a memfd with SIZE bytes, its offset inside, seals (bits of F_SEAL_*)
 *   fifo:N                           a FIFO in the fixture's directory, both ends held, N bytes in flight
 *   deleted:SIZE                     a file of SIZE bytes, unlinked, its offset inside
 *   null                             /dev/null
 *   pidfd:self|child|reaped:nb|b     a pidfd (PIDFD_NONBLOCK or not) of itself, of a child that waits (killed
 *                                    through it at the verdict), or of a child exited with 9 and reaped
 * Every byte written is a pattern of the fd's number, so a byte from another fd is seen.
 *
 * While running (every 50 ms, so after every restore and every dump -R) each fd checks what it can see without
 * changing it: fdinfo (eventfd count and flag, signalfd mask, timerfd clock, interval, ticks and time left,
 * inotify watches and masks, epoll registrations), bytes queued (FIONREAD, MSG_PEEK), file sizes, contents,
 * offsets, seals, pending signals, epoll readiness. The first failure is kept, naming the fd.
 * Verdict (SIGUSR2): the same checks, then each fd is drained and used: every byte and message comes back in
 * order and nothing more, counters read back, pending signals are read through their signalfd, a periodic timer
 * fires, a watched file's change is seen.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 32
#define MAX_MSGS 16
#define MAX_WATCHES 3

enum kind { EVENTFD, PIPE, UNIX, TIMERFD, SIGNALFD, INOTIFY, EPOLL, MEMFD, FIFO, DELETED, DEVNULL, PIDFD };
enum pidfd_of { SELF, CHILD, REAPED };
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct fdx {
	enum kind kind;
	char text[64];	/* its spec, for messages */
	int fd, other;	/* the checked fd (read end, receiving end); the other end or -1; a pidfd's pid */
	long n;		/* eventfd count, pipe/fifo bytes, messages, sizes, watches */
	int flag;	/* eventfd: semaphore; unix: socket type; memfd: seals; timerfd: clock */
	long ivl, init; /* timerfd, ms */
	int sig;
	int ntargets, target[MAX_FDS];
	uint32_t tevents[MAX_FDS];
	uint64_t tdata[MAX_FDS];
	int wd[MAX_WATCHES];
	uint32_t wmask[MAX_WATCHES];
	char wpath[MAX_WATCHES][256];
	long offset;
	struct timespec born;
};

static struct fdx fds[MAX_FDS];
static int nfds;
static char dir[200];

static unsigned char pat(int index, long k)
{
	return (unsigned char)(index * 37 + k * 7 + (k >> 8));
}

/* the length of message k of unix fd #index: 1 to 200 bytes */
static long msg_len(int index, int k)
{
	return 1 + (index * 131 + k * 71) % 200;
}

static void bad(struct fdx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct fdx *f, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fx_note_failure("fd %d (#%d %s): %s", f->fd, (int)(f - fds), f->text, why);
}

/* The rest of the first fdinfo line of fd starting with prefix, or "" */
static int fdinfo(int fd, const char *prefix, char *out, size_t len)
{
	char path[64], line[512];
	FILE *in;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	if (!(in = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), in))
		if (!strncmp(line, prefix, strlen(prefix))) {
			snprintf(out, len, "%s", line + strlen(prefix));
			found = 1;
			break;
		}
	fclose(in);
	return found;
}

static long long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000LL + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int parse_kind(const char *s, struct fdx *f, int index)
{
	char a[32] = "";
	long x = 0, y = 0;

	snprintf(f->text, sizeof(f->text), "%s", s);
	f->other = -1;
	if (sscanf(s, "eventfd:%ld:%31s", &x, a) == 2) {
		f->kind = EVENTFD, f->n = x, f->flag = !strcmp(a, "sem");
	} else if (sscanf(s, "pipe:%ld", &x) == 1) {
		f->kind = PIPE, f->n = x;
	} else if (sscanf(s, "unix:%31[a-z]:%ld", a, &x) == 2) {
		f->kind = UNIX, f->n = x;
		f->flag = !strcmp(a, "stream") ? SOCK_STREAM : !strcmp(a, "dgram") ? SOCK_DGRAM : SOCK_SEQPACKET;
		if (x > MAX_MSGS)
			return 0;
	} else if (sscanf(s, "timerfd:%31[a-z]:%ld:%ld", a, &x, &y) == 3) {
		f->kind = TIMERFD, f->ivl = x, f->init = y;
		f->flag = !strcmp(a, "real") ? CLOCK_REALTIME : !strcmp(a, "boot") ? CLOCK_BOOTTIME : CLOCK_MONOTONIC;
		if (!y)
			f->ivl = 0; /* a zero first expiry disarms whatever the interval */
	} else if (sscanf(s, "signalfd:%ld", &x) == 1) {
		f->kind = SIGNALFD, f->sig = (int)x;
	} else if (sscanf(s, "inotify:%ld", &x) == 1) {
		f->kind = INOTIFY, f->n = x;
		if (x < 1 || x > MAX_WATCHES)
			return 0;
	} else if (!strncmp(s, "epoll:", 6)) {
		f->kind = EPOLL;
		for (const char *p = s + 6; *p;) {
			char *end;
			long t = strtol(p, &end, 10);
			if (end == p || t < 0 || t >= index)
				return 0;
			f->target[f->ntargets] = (int)t;
			f->tevents[f->ntargets] = EPOLLIN | ((index + t) % 2 ? EPOLLRDHUP : 0) | ((index + t) % 3 ? 0 : EPOLLPRI);
			f->tdata[f->ntargets] = 0x9E3779B97F4A7C15ULL * (uint64_t)(index * 64 + t + 1);
			f->ntargets++;
			p = *end == '.' ? end + 1 : end;
			if (*end && *end != '.')
				return 0;
		}
	} else if (sscanf(s, "memfd:%ld:%ld", &x, &y) == 2) {
		f->kind = MEMFD, f->n = x, f->flag = (int)y;
	} else if (sscanf(s, "fifo:%ld", &x) == 1) {
		f->kind = FIFO, f->n = x;
	} else if (sscanf(s, "deleted:%ld", &x) == 1) {
		f->kind = DELETED, f->n = x;
	} else if (!strcmp(s, "null")) {
		f->kind = DEVNULL;
	} else if (sscanf(s, "pidfd:%31[a-z]:%ld", a, &x) == 2 || sscanf(s, "pidfd:%31[a-z]", a) == 1) {
		f->kind = PIDFD, f->flag = !strcmp(a, "self") ? SELF : !strcmp(a, "child") ? CHILD : REAPED;
		f->init = strstr(s, ":nb") != NULL; /* PIDFD_NONBLOCK */
		f->sig = 0;
	} else {
		return 0;
	}
	return f->n >= 0 && f->n <= 60000;
}

static void parse(const char *spec)
{
	char *copy = strdup(spec), *save = NULL;

	for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (nfds >= MAX_FDS)
			fx_fail("more than %d fds in --fds", MAX_FDS);
		if (!parse_kind(s, &fds[nfds], nfds))
			fx_fail("bad fd #%d in --fds: %s", nfds, s);
		nfds++;
	}
	free(copy);
}

static void write_pattern(int fd, int index, long n, const char *what)
{
	unsigned char buf[4096];

	for (long done = 0; done < n;) {
		long chunk = n - done < (long)sizeof(buf) ? n - done : (long)sizeof(buf);
		for (long k = 0; k < chunk; k++)
			buf[k] = pat(index, done + k);
		ssize_t w = write(fd, buf, chunk);
		if (w <= 0)
			fx_fail("%s #%d: write: %s", what, index, strerror(errno));
		done += w;
	}
}

/* the fd whose readiness an epoll target stands for */
static int pollable(struct fdx *f)
{
	return f->fd;
}

static void setup(int i)
{
	struct fdx *f = &fds[i];
	int p[2];
	char path[256];

	clock_gettime(CLOCK_MONOTONIC, &f->born);
	switch (f->kind) {
	case EVENTFD:
		f->fd = eventfd((unsigned)f->n, EFD_NONBLOCK | (f->flag ? EFD_SEMAPHORE : 0));
		break;
	case PIPE:
		if (pipe2(p, O_NONBLOCK))
			fx_fail("pipe #%d: %s", i, strerror(errno));
		f->fd = p[0], f->other = p[1];
		write_pattern(p[1], i, f->n, "pipe");
		break;
	case UNIX:
		if (socketpair(AF_UNIX, f->flag | SOCK_NONBLOCK, 0, p))
			fx_fail("socketpair #%d: %s", i, strerror(errno));
		f->fd = p[1], f->other = p[0];
		for (int k = 0; k < f->n; k++) {
			unsigned char buf[256];
			long len = msg_len(i, k);
			for (long b = 0; b < len; b++)
				buf[b] = pat(i, k * 256 + b);
			if (send(p[0], buf, len, 0) != len)
				fx_fail("send #%d: %s", i, strerror(errno));
		}
		break;
	case TIMERFD: {
		struct itimerspec t = {.it_value = {f->init / 1000, f->init % 1000 * 1000000},
				       .it_interval = {f->ivl / 1000, f->ivl % 1000 * 1000000}};
		f->fd = timerfd_create(f->flag, TFD_NONBLOCK);
		if (f->fd >= 0 && timerfd_settime(f->fd, 0, &t, NULL))
			fx_fail("timerfd_settime #%d: %s", i, strerror(errno));
		break;
	}
	case SIGNALFD: {
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, f->sig);
		if (sigprocmask(SIG_BLOCK, &m, NULL))
			fx_fail("sigprocmask #%d: %s", i, strerror(errno));
		f->fd = signalfd(-1, &m, SFD_NONBLOCK);
		union sigval v = {.sival_int = 1000 + i};
		if (sigqueue(getpid(), f->sig, v))
			fx_fail("sigqueue #%d: %s", i, strerror(errno));
		break;
	}
	case INOTIFY:
		f->fd = inotify_init1(IN_NONBLOCK);
		for (int w = 0; w < f->n && f->fd >= 0; w++) {
			snprintf(f->wpath[w], sizeof(f->wpath[w]), "%s/watched-%d-%d", dir, i, w);
			close(open(f->wpath[w], O_CREAT | O_WRONLY, 0644));
			f->wmask[w] = IN_MODIFY | (w % 2 ? IN_ATTRIB : 0) | (i % 2 ? IN_CLOSE_WRITE : 0);
			f->wd[w] = inotify_add_watch(f->fd, f->wpath[w], f->wmask[w]);
			if (f->wd[w] < 0)
				fx_fail("inotify_add_watch #%d: %s", i, strerror(errno));
		}
		break;
	case EPOLL:
		f->fd = epoll_create1(0);
		for (int t = 0; t < f->ntargets && f->fd >= 0; t++) {
			struct epoll_event e = {.events = f->tevents[t], .data.u64 = f->tdata[t]};
			if (epoll_ctl(f->fd, EPOLL_CTL_ADD, pollable(&fds[f->target[t]]), &e))
				fx_fail("epoll_ctl #%d on #%d: %s", i, f->target[t], strerror(errno));
		}
		break;
	case MEMFD:
		snprintf(path, sizeof(path), "randfds-%d", i);
		f->fd = memfd_create(path, MFD_ALLOW_SEALING);
		if (f->fd < 0)
			fx_fail("memfd_create #%d: %s", i, strerror(errno));
		write_pattern(f->fd, i, f->n, "memfd");
		f->offset = f->n / 3;
		lseek(f->fd, f->offset, SEEK_SET);
		if (f->flag && fcntl(f->fd, F_ADD_SEALS, f->flag))
			fx_fail("F_ADD_SEALS #%d: %s", i, strerror(errno));
		break;
	case FIFO:
		snprintf(path, sizeof(path), "%s/fifo-%d", dir, i);
		if (mkfifo(path, 0600))
			fx_fail("mkfifo #%d: %s", i, strerror(errno));
		f->fd = open(path, O_RDONLY | O_NONBLOCK);
		f->other = open(path, O_WRONLY | O_NONBLOCK);
		if (f->fd < 0 || f->other < 0)
			fx_fail("open fifo #%d: %s", i, strerror(errno));
		write_pattern(f->other, i, f->n, "fifo");
		break;
	case DELETED:
		snprintf(path, sizeof(path), "%s/deleted-%d", dir, i);
		f->fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
		if (f->fd < 0)
			fx_fail("open #%d: %s", i, strerror(errno));
		write_pattern(f->fd, i, f->n, "deleted file");
		f->offset = f->n / 2;
		lseek(f->fd, f->offset, SEEK_SET);
		unlink(path);
		break;
	case DEVNULL:
		f->fd = open("/dev/null", O_RDWR);
		break;
	case PIDFD: {
		pid_t pid = getpid();
		if (f->flag != SELF) {
			pid = fork();
			if (pid < 0)
				fx_fail("fork #%d: %s", i, strerror(errno));
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (f->flag == REAPED)
					_exit(9);
				/* only the target of a pidfd: it holds none of the fixture's files (a FIFO another
				   process holds too is a limit Cryo refuses, README's known limits) */
				for (int fd = 3; fd < 1024; fd++)
					close(fd);
				for (;;)
					pause();
			}
		}
		f->other = pid; /* the pid it names */
		f->fd = (int)syscall(SYS_pidfd_open, pid, f->init ? O_NONBLOCK : 0);
		if (f->fd >= 0 && f->flag == REAPED) {
			siginfo_t si;
			struct pollfd p = {.fd = f->fd, .events = POLLIN};
			if (poll(&p, 1, 10000) != 1 || waitid(P_PIDFD, f->fd, &si, WEXITED)) /* EAGAIN before it exits */
				fx_fail("waitid #%d: %s", i, strerror(errno));
		}
		break;
	}
	}
	if (f->fd < 0)
		fx_fail("#%d %s: %s", i, f->text, strerror(errno));
}

/* the bytes queued for reading at fd (pipes, FIFOs, stream and seqpacket sockets: all; datagrams: the first) */
static long queued(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) ? -1 : n;
}

static long expected_queued(struct fdx *f)
{
	long sum = 0;

	if (f->kind != UNIX)
		return f->n;
	if (f->flag == SOCK_DGRAM)
		return f->n ? msg_len((int)(f - fds), 0) : 0;
	for (int k = 0; k < f->n; k++)
		sum += msg_len((int)(f - fds), k);
	return sum;
}

static int contents_ok(struct fdx *f)
{
	unsigned char buf[4096];
	long at = 0;

	while (at < f->n) {
		ssize_t r = pread(f->fd, buf, sizeof(buf), at);
		if (r <= 0)
			return 0;
		for (ssize_t k = 0; k < r; k++)
			if (buf[k] != pat((int)(f - fds), at + k))
				return 0;
		at += r;
	}
	return 1;
}

/* Is fd certainly readable now (for the epoll readiness check)? */
static int certainly_ready(struct fdx *f)
{
	switch (f->kind) {
	case EVENTFD: return f->n > 0;
	case PIPE: case FIFO: case UNIX: return f->n > 0;
	case SIGNALFD: return 1;
	default: return 0;
	}
}

/* What each fd can tell without changing anything. */
static void look(struct fdx *f)
{
	char v[256];
	struct stat st;

	if (fstat(f->fd, &st)) {
		bad(f, "fstat: %s", strerror(errno));
		return;
	}
	switch (f->kind) {
	case EVENTFD: {
		unsigned long long count = ~0ULL;
		int sem = -1;
		if (fdinfo(f->fd, "eventfd-count:", v, sizeof(v)))
			sscanf(v, "%llx", &count);
		if (fdinfo(f->fd, "eventfd-semaphore:", v, sizeof(v)))
			sscanf(v, "%d", &sem);
		if (count != (unsigned long long)f->n)
			bad(f, "count %#llx, expected %#lx", count, f->n);
		if (sem != -1 && sem != f->flag)
			bad(f, "EFD_SEMAPHORE is %d, expected %d", sem, f->flag);
		break;
	}
	case PIPE: case FIFO: case UNIX: {
		long q = queued(f->fd), want = expected_queued(f);
		if (q != want)
			bad(f, "%ld bytes queued (FIONREAD), expected %ld", q, want);
		if (f->kind == FIFO) {
			char path[256];
			struct stat named;
			snprintf(path, sizeof(path), "%s/fifo-%d", dir, (int)(f - fds));
			if (stat(path, &named) || named.st_ino != st.st_ino || !S_ISFIFO(st.st_mode))
				bad(f, "is not the FIFO %s any more", path);
		}
		if (f->kind == UNIX) {
			int type = -1;
			socklen_t len = sizeof(type);
			getsockopt(f->fd, SOL_SOCKET, SO_TYPE, &type, &len);
			if (type != f->flag)
				bad(f, "socket type %d, expected %d", type, f->flag);
			if (f->n) {
				unsigned char buf[256];
				long want0 = msg_len((int)(f - fds), 0);
				ssize_t r = recv(f->fd, buf, f->flag == SOCK_STREAM ? (size_t)want0 : sizeof(buf), MSG_PEEK);
				if (r != want0 || buf[0] != pat((int)(f - fds), 0))
					bad(f, "the first message peeks as %zd bytes, expected %ld", r, want0);
			}
		}
		break;
	}
	case TIMERFD: {
		struct itimerspec t;
		unsigned long long ticks = ~0ULL;
		int clock = -1;
		memset(&t, 0, sizeof(t));
		if (timerfd_gettime(f->fd, &t)) {
			bad(f, "timerfd_gettime: %s", strerror(errno));
			break;
		}
		if (fdinfo(f->fd, "ticks:", v, sizeof(v)))
			sscanf(v, "%llu", &ticks);
		if (fdinfo(f->fd, "clockid:", v, sizeof(v)))
			sscanf(v, "%d", &clock);
		long long left = t.it_value.tv_sec * 1000LL + t.it_value.tv_nsec / 1000000;
		long long ivl = t.it_interval.tv_sec * 1000LL + t.it_interval.tv_nsec / 1000000;
		long long most = f->init > f->ivl ? f->init : f->ivl;
		if (clock != f->flag)
			bad(f, "clock %d, expected %d", clock, f->flag);
		if (ivl != f->ivl)
			bad(f, "interval %lld ms, expected %ld", ivl, f->ivl);
		if (left > most)
			bad(f, "%lld ms left, more than the %lld it was set to", left, most);
		if (!f->init && (left || ticks))
			bad(f, "disarmed, yet %lld ms left and %llu ticks", left, ticks);
		/* armed is "any time left", not "a millisecond left": a one-shot 0.4 ms from its expiry reads 0 ms and
		 * 0 ticks, and is right */
		int armed = t.it_value.tv_sec || t.it_value.tv_nsec;
		if (f->init && !f->ivl && (ticks > 1 || (!armed && ticks != 1)))
			bad(f, "a one-shot with %lld ms left (%s) and %llu unread ticks", left, armed ? "armed" : "expired", ticks);
		if (f->ivl && ticks > (unsigned long long)(ms_since(&f->born) / f->ivl + 2))
			bad(f, "%llu ticks after %lld ms at %ld ms each", ticks, ms_since(&f->born), f->ivl);
		break;
	}
	case SIGNALFD: {
		unsigned long long mask = 0;
		sigset_t pending, blocked;
		if (fdinfo(f->fd, "sigmask:", v, sizeof(v)))
			sscanf(v, "%llx", &mask);
		if (mask != 1ULL << (f->sig - 1))
			bad(f, "mask %#llx, expected %#llx", mask, 1ULL << (f->sig - 1));
		sigpending(&pending);
		sigprocmask(SIG_BLOCK, NULL, &blocked);
		if (!sigismember(&pending, f->sig))
			bad(f, "signal %d is not pending any more", f->sig);
		if (!sigismember(&blocked, f->sig))
			bad(f, "signal %d is not blocked any more", f->sig);
		break;
	}
	case INOTIFY: {
		char path[64], line[512];
		FILE *in;
		int seen = 0;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", f->fd);
		if (!(in = fopen(path, "r")))
			break;
		while (fgets(line, sizeof(line), in)) {
			unsigned int wd, mask;
			unsigned long ino;
			if (sscanf(line, "inotify wd:%x ino:%lx sdev:%*x mask:%x", &wd, &ino, &mask) != 3)
				continue;
			seen++;
			int w = 0;
			while (w < f->n && f->wd[w] != (int)wd)
				w++;
			struct stat ws;
			if (w == f->n)
				bad(f, "an unknown watch %d", wd);
			else if ((mask & IN_ALL_EVENTS) != f->wmask[w])
				bad(f, "watch %d has mask %#x, expected %#x", wd, mask & IN_ALL_EVENTS, f->wmask[w]);
			else if (stat(f->wpath[w], &ws) || ws.st_ino != ino)
				bad(f, "watch %d is on inode %lu, not on %s", wd, ino, f->wpath[w]);
		}
		fclose(in);
		if (seen != f->n)
			bad(f, "%d watches, expected %ld", seen, f->n);
		char buf[4096] __attribute__((aligned(8)));
		if (read(f->fd, buf, sizeof(buf)) > 0)
			bad(f, "an event before any change");
		break;
	}
	case EPOLL: {
		char path[64], line[512];
		FILE *in;
		int seen = 0;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", f->fd);
		if (!(in = fopen(path, "r")))
			break;
		while (fgets(line, sizeof(line), in)) {
			int tfd;
			unsigned int ev;
			unsigned long long data;
			if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) != 3)
				continue;
			seen++;
			int t = 0;
			while (t < f->ntargets && fds[f->target[t]].fd != tfd)
				t++;
			if (t == f->ntargets)
				bad(f, "watches fd %d, which it was never given", tfd);
			else if ((ev & ~(EPOLLERR | EPOLLHUP)) != f->tevents[t] || data != f->tdata[t])
				bad(f, "watches fd %d for %#x data %#llx, expected %#x data %#llx", tfd,
				    ev & ~(EPOLLERR | EPOLLHUP), data, f->tevents[t], (unsigned long long)f->tdata[t]);
		}
		fclose(in);
		if (seen != f->ntargets)
			bad(f, "watches %d fds, expected %d", seen, f->ntargets);
		struct epoll_event got[MAX_FDS];
		int n = epoll_wait(f->fd, got, MAX_FDS, 0);
		for (int t = 0; t < f->ntargets; t++) {
			if (!certainly_ready(&fds[f->target[t]]))
				continue;
			int k = 0;
			while (k < n && got[k].data.u64 != f->tdata[t])
				k++;
			if (k == n)
				bad(f, "fd %d (#%d) is readable but epoll_wait does not say so", fds[f->target[t]].fd,
				    f->target[t]);
		}
		break;
	}
	case MEMFD: {
		int seals = fcntl(f->fd, F_GET_SEALS);
		if (st.st_size != f->n)
			bad(f, "size %lld, expected %ld", (long long)st.st_size, f->n);
		else if (!contents_ok(f))
			bad(f, "contents differ");
		if (seals != f->flag)
			bad(f, "seals %#x, expected %#x", seals, f->flag);
		if (lseek(f->fd, 0, SEEK_CUR) != f->offset)
			bad(f, "offset %lld, expected %ld", (long long)lseek(f->fd, 0, SEEK_CUR), f->offset);
		break;
	}
	case DELETED:
		if (st.st_nlink != 0)
			bad(f, "has %lu links, expected none (deleted)", (unsigned long)st.st_nlink);
		if (st.st_size != f->n)
			bad(f, "size %lld, expected %ld", (long long)st.st_size, f->n);
		else if (!contents_ok(f))
			bad(f, "contents differ");
		if (lseek(f->fd, 0, SEEK_CUR) != f->offset)
			bad(f, "offset %lld, expected %ld", (long long)lseek(f->fd, 0, SEEK_CUR), f->offset);
		break;
	case DEVNULL:
		if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
			bad(f, "is not /dev/null");
		break;
	case PIDFD: {
		int pid = -2;
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		if (fdinfo(f->fd, "Pid:", v, sizeof(v)))
			sscanf(v, "%d", &pid);
		if (pid != (f->flag == REAPED ? -1 : f->other))
			bad(f, "names pid %d, expected %d", pid, f->flag == REAPED ? -1 : f->other);
		if (!(fcntl(f->fd, F_GETFL) & O_NONBLOCK) != !f->init)
			bad(f, "O_NONBLOCK %s", f->init ? "lost" : "gained");
		if ((poll(&p, 1, 0) == 1) != (f->flag == REAPED))
			bad(f, "poll says %s", f->flag == REAPED ? "alive, expected exited" : "exited, expected alive");
		break;
	}
	}
}

/* The bytes of a pipe, FIFO or stream: all of them in order, then nothing (EAGAIN). */
static void drain(struct fdx *f)
{
	unsigned char buf[4096];
	long got = 0;
	int i = (int)(f - fds);

	while (got < f->n) {
		ssize_t r = read(f->fd, buf, sizeof(buf));
		if (r <= 0) {
			bad(f, "%ld of %ld bytes, then %s", got, f->n, r < 0 ? strerror(errno) : "EOF");
			return;
		}
		for (ssize_t k = 0; k < r; k++)
			if (buf[k] != pat(i, got + k)) {
				bad(f, "byte %ld differs", got + k);
				return;
			}
		got += r;
	}
	if (read(f->fd, buf, 1) != -1 || errno != EAGAIN)
		bad(f, "more bytes than were written, or no writer left");
}

/* Drains and uses each fd (after every fd looked). */
static void use(struct fdx *f)
{
	int i = (int)(f - fds);
	uint64_t v;

	switch (f->kind) {
	case EVENTFD:
		if (f->n) {
			ssize_t r = read(f->fd, &v, 8);
			if (r != 8)
				bad(f, "cannot read its count: %s", r < 0 ? strerror(errno) : "short read");
			else if (v != (f->flag ? 1 : (uint64_t)f->n))
				bad(f, "read gives %llu, expected %llu", (unsigned long long)v,
				    (unsigned long long)(f->flag ? 1 : f->n));
		}
		v = 3;
		if (write(f->fd, &v, 8) != 8)
			bad(f, "does not count: %s", strerror(errno));
		break;
	case PIPE: case FIFO:
		drain(f);
		if (write(f->other, "z", 1) != 1 || read(f->fd, &v, 8) != 1)
			bad(f, "does not carry new bytes");
		break;
	case UNIX:
		/* a stream gives the messages' bytes back to back, the others message by message */
		for (int k = 0; k < f->n; k++) {
			unsigned char buf[512];
			long want = msg_len(i, k);
			ssize_t r = recv(f->fd, buf, f->flag == SOCK_STREAM ? (size_t)want : sizeof(buf),
					 f->flag == SOCK_STREAM ? MSG_WAITALL : 0);
			int same = r == want;
			for (long b = 0; same && b < want; b++)
				same = buf[b] == pat(i, k * 256 + b);
			if (!same) {
				bad(f, "message %d is %zd bytes (%s), expected %ld of its own pattern", k, r,
				    r < 0 ? strerror(errno) : "read", want);
				return;
			}
		}
		if (recv(f->fd, &v, 1, 0) != -1 || errno != EAGAIN)
			bad(f, "more than was sent, or the peer is gone");
		if (send(f->other, "q", 1, 0) != 1 || recv(f->fd, &v, 8, 0) != 1)
			bad(f, "does not carry a new message");
		break;
	case TIMERFD:
		if (f->ivl && f->ivl <= 2000) {
			struct pollfd p = {.fd = f->fd, .events = POLLIN};
			if (poll(&p, 1, 10000) != 1 || read(f->fd, &v, 8) != 8 || v < 1)
				bad(f, "the periodic timer does not fire");
		}
		break;
	case SIGNALFD: {
		struct signalfd_siginfo si;
		if (read(f->fd, &si, sizeof(si)) != sizeof(si))
			bad(f, "the pending signal %d cannot be read: %s", f->sig, strerror(errno));
		else if ((int)si.ssi_signo != f->sig || (f->sig >= SIGRTMIN && si.ssi_int != 1000 + i))
			bad(f, "read signal %u payload %d, expected %d payload %d", si.ssi_signo, si.ssi_int, f->sig, 1000 + i);
		break;
	}
	case INOTIFY: {
		char buf[4096] __attribute__((aligned(8)));
		int fd = open(f->wpath[0], O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, "x", 1) != 1)
			bad(f, "cannot write %s", f->wpath[0]);
		close(fd);
		ssize_t r = read(f->fd, buf, sizeof(buf));
		struct inotify_event *e = (struct inotify_event *)buf;
		if (r < (ssize_t)sizeof(*e) || e->wd != f->wd[0] || !(e->mask & IN_MODIFY))
			bad(f, "writing %s gives no IN_MODIFY on watch %d", f->wpath[0], f->wd[0]);
		break;
	}
	case DEVNULL:
		if (write(f->fd, "x", 1) != 1 || read(f->fd, &v, 8) != 0)
			bad(f, "does not act as /dev/null");
		break;
	case PIDFD: {
		long r = syscall(SYS_pidfd_send_signal, f->fd, f->flag == CHILD ? SIGKILL : 0, NULL, 0);
		if (f->flag == REAPED ? (r == 0 || errno != ESRCH) : r != 0)
			bad(f, "pidfd_send_signal: %s", r ? strerror(errno) : "delivered");
		if (f->flag == CHILD) {
			siginfo_t si;
			struct pollfd p = {.fd = f->fd, .events = POLLIN};
			memset(&si, 0, sizeof(si));
			if (poll(&p, 1, 10000) != 1 || waitid(P_PIDFD, f->fd, &si, WEXITED) || si.si_pid != f->other
			    || si.si_status != SIGKILL)
				bad(f, "its child, killed through it, is not seen exiting (pid %d, status %d)", si.si_pid,
				    si.si_status);
		}
		break;
	}
	default:
		break;
	}
}

/* The watched files and FIFOs live in a directory of their own under /tmp: gone with the verdict. */
static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	fx_init("randfds");
	parse(fx_opt_str(argc, argv, "fds", ""));
	snprintf(dir, sizeof(dir), "/tmp/cryo-randfds-XXXXXX");
	if (!mkdtemp(dir))
		fx_fail("mkdtemp: %s", strerror(errno));
	for (int i = 0; i < nfds; i++)
		setup(i);
	for (int i = 0; i < nfds; i++)
		look(&fds[i]);
	if (fx_failed())
		fx_finish(); /* the fixture itself is wrong: say so before any dump */
	fx_ready();
	while (!fx_verify_requested()) {
		for (int i = 0; i < nfds && !fx_failed(); i++)
			look(&fds[i]);
		fx_sleep_ms(50);
	}
	for (int i = 0; i < nfds; i++)
		look(&fds[i]);
	for (int i = 0; i < nfds; i++)
		use(&fds[i]);
	remove_dir();
	fx_finish();
}
