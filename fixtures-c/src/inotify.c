/*
 * inotify: watches on a directory (IN_CREATE | IN_DELETE) and on a file (IN_MODIFY | IN_ONESHOT), with a gap
 * in the watch numbers (a watch added and removed between them).
 * Verdict: the watch numbers are kept (fdinfo), creating a file in the directory and writing to the file give
 * exactly those two events with their watch numbers, and nothing else is queued.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int watches(int fd)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "inotify wd:", 11) == 0;
	fclose(f);
	return n;
}

/*
 * Whether path is on a 9p mount: the mount whose point is the longest prefix of its real path, in mountinfo
 * (statfs cannot tell: 9p2000.L passes on the server's own filesystem type).
 */
static int on_9p(const char *path)
{
	char real[PATH_MAX], line[4096], point[PATH_MAX], type[64], best_type[64] = "";
	size_t best = 0;
	FILE *f;

	if (!realpath(path, real) || !(f = fopen("/proc/self/mountinfo", "r")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - ");
		size_t n;
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || sscanf(dash + 3, "%63s", type) != 1)
			continue;
		n = strlen(point);
		if (strncmp(real, point, n) == 0 && (real[n] == '/' || real[n] == '\0' || n == 1) && n >= best) {
			best = n;
			snprintf(best_type, sizeof(best_type), "%s", type);
		}
	}
	fclose(f);
	return strcmp(best_type, "9p") == 0;
}

int main(int argc, char **argv)
{
	const char *dir = fx_opt_str(argc, argv, "dir", ".");
	char watched[4096], file[4096], gone[4096], created[4096], local[] = "/tmp/cryo-inotify-XXXXXX";
	char buf[4096] __attribute__((aligned(8)));
	int in, wd_dir, wd_gap, wd_file, own_dir = 0;

	fx_init("inotify");
	/*
	 * The VM sandbox shares the case directory over 9p, which makes a new inode at every lookup: a watch there
	 * sees none of the events a later open of the same path makes, restored or not. The files then go in /tmp.
	 */
	if (!strcmp(dir, ".") && on_9p(".")) {
		if (!mkdtemp(local))
			fx_fail("mkdtemp: %s", strerror(errno));
		dir = local;
		own_dir = 1;
	}
	snprintf(watched, sizeof(watched), "%s/inotify-dir", dir);
	snprintf(file, sizeof(file), "%s/inotify-file", dir);
	snprintf(gone, sizeof(gone), "%s/inotify-gap", dir);
	snprintf(created, sizeof(created), "%s/inotify-dir/new", dir);
	mkdir(watched, 0755);
	unlink(created);
	close(open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644));
	close(open(gone, O_CREAT | O_WRONLY | O_TRUNC, 0644));
	in = inotify_init1(IN_NONBLOCK);
	if (in < 0)
		fx_fail("inotify_init1: %s", strerror(errno));
	wd_dir = inotify_add_watch(in, watched, IN_CREATE | IN_DELETE);
	wd_gap = inotify_add_watch(in, gone, IN_ATTRIB);
	inotify_rm_watch(in, wd_gap);
	wd_file = inotify_add_watch(in, file, IN_MODIFY | IN_ONESHOT);
	if (wd_dir < 0 || wd_gap < 0 || wd_file < 0)
		fx_fail("inotify_add_watch: %s", strerror(errno));
	while (read(in, buf, sizeof(buf)) > 0)
		; /* the IN_IGNORED of the removed watch */

	fx_ready();
	fx_wait_verify();

	if (watches(in) != 2)
		fx_note_failure("fdinfo lists %d watches, expected 2", watches(in));
	if (!(fcntl(in, F_GETFL) & O_NONBLOCK))
		fx_note_failure("O_NONBLOCK not kept");
	if (read(in, buf, sizeof(buf)) > 0)
		fx_note_failure("an event was queued before any change (mask %#x on watch %d)",
				((struct inotify_event *)buf)->mask, ((struct inotify_event *)buf)->wd);
	close(open(created, O_CREAT | O_WRONLY, 0644));
	int fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1)
		fx_note_failure("cannot write %s: %s", file, strerror(errno));
	close(fd);
	int create = 0, modify = 0;
	ssize_t n = read(in, buf, sizeof(buf));
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *ev = (struct inotify_event *)p;
		if (ev->wd == wd_dir && (ev->mask & IN_CREATE) && ev->len && strcmp(ev->name, "new") == 0)
			create++;
		else if (ev->wd == wd_file && (ev->mask & IN_MODIFY))
			modify++;
		else if (!(ev->wd == wd_file && (ev->mask & IN_IGNORED))) /* the one-shot's end */
			fx_note_failure("unexpected event: watch %d mask %#x", ev->wd, ev->mask);
		p += sizeof(*ev) + ev->len;
	}
	if (create != 1 || modify != 1)
		fx_note_failure("saw %d creations on watch %d and %d writes on watch %d, expected 1 each", create, wd_dir,
				modify, wd_file);
	unlink(created);
	if (own_dir) {
		unlink(file);
		unlink(gone);
		rmdir(watched);
		rmdir(dir);
	}
	fx_finish();
}
