/*
 * shmem: shared memory in one process, checked page by page and for sharing.
 *
 * --with=LIST (comma separated, default "anon,zero"):
 *   anon  MAP_SHARED|MAP_ANONYMOUS, 8 pages (two left untouched), plus a second view of the same object
 *         (mremap with old size 0) and a middle piece moved away (a partial mremap: three VMAs, one object)
 *   zero  /dev/zero mapped shared twice from one fd: two separate objects, which must stay separate
 *   memfd a memfd (sealed against shrinking and growing) mapped shared twice (rw whole, ro from page 1) and
 *         privately with a page of its own, then closed: only the mappings hold it
 *   file  a regular file in --dir (default /tmp) mapped shared twice; writes through the mapping reach the file
 *   devshm  the same with a POSIX shared memory file (shm_open, in /dev/shm)
 *   madvise  private and shared mappings given MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTFORK, MADV_DONTDUMP,
 *         MADV_WIPEONFORK, MADV_MERGEABLE, MADV_RANDOM, MADV_SEQUENTIAL (each one this kernel accepts): smaps'
 *         VmFlags must show each again
 * Each region's pages hold (seed, region, page, generation) patterns; untouched pages must read zero.
 * Verdict: every page holds its pattern, and a write through one view of an object is seen through every other
 * view (and not through another object's). Command "write <count> <seed>" rewrites pages between pre-dumps.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long page;
static unsigned long long seed;

static void fill(unsigned char *p, int region, long index, unsigned gen)
{
	unsigned long long state = seed ^ ((unsigned long long)region << 40) ^ ((unsigned long long)index << 8) ^ gen;
	uint64_t *w = (uint64_t *)p;

	for (long i = 0; i < page / 8; i++)
		w[i] = fx_rand(&state);
}

static int matches(const unsigned char *p, int region, long index, unsigned gen)
{
	static unsigned char expect[1 << 16];

	if (gen == 0) {
		for (long i = 0; i < page; i++)
			if (p[i])
				return 0;
		return 1;
	}
	fill(expect, region, index, gen);
	return memcmp(p, expect, page) == 0;
}

static int has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = list; (s = strstr(s, word)); s += n)
		if ((s == list || s[-1] == ',') && (s[n] == 0 || s[n] == ','))
			return 1;
	return 0;
}

static void *reserve(long pages)
{
	void *p = mmap(NULL, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fx_fail("cannot reserve %ld pages: %s", pages, strerror(errno));
	return p;
}

/* one object and the views of it: view[v] shows object pages [first[v], first[v] + count[v]) */
struct object {
	const char *name;
	long pages;
	unsigned gen[64];
	int nviews;
	unsigned char *view[4];
	long first[4], count[4];
};

static struct object objects[8];
static int nobjects;

static struct object *object(const char *name, long pages)
{
	struct object *o = &objects[nobjects++];

	o->name = name;
	o->pages = pages;
	return o;
}

static void view(struct object *o, void *at, long first, long count)
{
	o->view[o->nviews] = at;
	o->first[o->nviews] = first;
	o->count[o->nviews] = count;
	o->nviews++;
}

/* the address of object page i in some view, or NULL */
static unsigned char *page_of(struct object *o, long i, int skip_view)
{
	for (int v = 0; v < o->nviews; v++)
		if (v != skip_view && i >= o->first[v] && i < o->first[v] + o->count[v])
			return o->view[v] + (i - o->first[v]) * page;
	return NULL;
}

static void write_page(struct object *o, long i)
{
	unsigned char *p = page_of(o, i, -1);

	o->gen[i]++;
	fill(p, (int)(o - objects), i, o->gen[i]);
}

static void check_object(struct object *o)
{
	int k = (int)(o - objects);

	for (long i = 0; i < o->pages; i++)
		for (int v = 0; v < o->nviews; v++) {
			if (i < o->first[v] || i >= o->first[v] + o->count[v])
				continue;
			unsigned char *p = o->view[v] + (i - o->first[v]) * page;
			if (!matches(p, k, i, o->gen[i]))
				fx_fail("%s: page %ld seen through view %d (%p) does not hold generation %u", o->name, i, v,
					(void *)p, o->gen[i]);
		}
	/* sharing: a write through one view shows through the others */
	for (long i = 0; i < o->pages; i++) {
		unsigned char *a = page_of(o, i, -1);
		for (int v = 0; v < o->nviews; v++) {
			if (i < o->first[v] || i >= o->first[v] + o->count[v] || o->view[v] + (i - o->first[v]) * page == a)
				continue;
			unsigned char *b = o->view[v] + (i - o->first[v]) * page;
			write_page(o, i);
			if (!matches(b, k, i, o->gen[i]))
				fx_fail("%s: page %ld written at %p is not seen at %p: the views are no longer one object",
					o->name, i, (void *)a, (void *)b);
		}
	}
}

static void setup_anon(void)
{
	struct object *o = object("anon", 8);
	unsigned char *p = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fx_fail("anon: mmap: %s", strerror(errno));
	view(o, p, 0, 8);
	for (long i = 0; i < 8; i++)
		if (i != 3 && i != 6)
			write_page(o, i); /* pages 3 and 6 are never touched */
	/* a second view of the whole object, elsewhere */
	unsigned char *alias = mremap(p, 0, 8 * page, MREMAP_MAYMOVE);
	if (alias == MAP_FAILED)
		fx_fail("anon: mremap(old size 0): %s", strerror(errno));
	/* pages 4..5 of the first view move away: the first view becomes [0,4) and [6,8) */
	unsigned char *hole = reserve(4);
	unsigned char *moved = mremap(p + 4 * page, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, hole + page);
	if (moved == MAP_FAILED)
		fx_fail("anon: partial mremap: %s", strerror(errno));
	o->nviews = 0;
	view(o, p, 0, 4);
	view(o, p + 6 * page, 6, 2);
	view(o, moved, 4, 2);
	view(o, alias, 0, 8);
}

static void setup_zero(void)
{
	int fd = open("/dev/zero", O_RDWR);

	if (fd < 0)
		fx_fail("zero: open /dev/zero: %s", strerror(errno));
	for (int n = 0; n < 2; n++) {
		struct object *o = object(n ? "zero-2" : "zero-1", 4);
		unsigned char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			fx_fail("zero: mmap: %s", strerror(errno));
		view(o, p, 0, 4);
		for (long i = 0; i < 3; i++)
			write_page(o, i);
	}
	close(fd);
}

/* two /dev/zero objects stay two: a write to one does not reach the other */
static void check_apart(void)
{
	struct object *a = NULL, *b = NULL;

	for (int k = 0; k < nobjects; k++) {
		if (!strcmp(objects[k].name, "zero-1"))
			a = &objects[k];
		if (!strcmp(objects[k].name, "zero-2"))
			b = &objects[k];
	}
	if (!a || !b)
		return;
	write_page(a, 3);
	if (!matches(b->view[0] + 3 * page, (int)(b - objects), 3, b->gen[3]))
		fx_fail("zero: a write to one /dev/zero mapping reached the other: they became one object");
}

static unsigned char *memfd_private;

static void setup_memfd(void)
{
	struct object *o = object("memfd", 6);
	int fd = memfd_create("cryo-fx", MFD_ALLOW_SEALING);

	if (fd < 0)
		fx_fail("memfd: memfd_create: %s", strerror(errno));
	if (ftruncate(fd, 6 * page))
		fx_fail("memfd: ftruncate: %s", strerror(errno));
	unsigned char *rw = mmap(NULL, 6 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *ro = mmap(NULL, 4 * page, PROT_READ, MAP_SHARED, fd, page);
	memfd_private = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED || memfd_private == MAP_FAILED)
		fx_fail("memfd: mmap: %s", strerror(errno));
	view(o, rw, 0, 6);
	for (long i = 0; i < 6; i++)
		if (i != 2)
			write_page(o, i);
	memset(memfd_private + page, 0xa5, page); /* copied on write: the mapping's own page */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		fx_fail("memfd: F_ADD_SEALS: %s", strerror(errno));
	close(fd);
	view(o, ro, 1, 4);
}

static void check_memfd(void)
{
	char path[64], link[256];
	struct object *o = NULL;

	for (int k = 0; k < nobjects; k++)
		if (!strcmp(objects[k].name, "memfd"))
			o = &objects[k];
	if (!o)
		return;
	/* the private mapping: page 0 still the file's (as it was at the dump or later), page 1 its own */
	for (long i = 0; i < page; i++)
		if (memfd_private[page + i] != 0xa5)
			fx_fail("memfd: the private mapping lost its own page");
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)o->view[0],
		 (unsigned long)o->view[0] + 6 * page);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		fx_fail("memfd: readlink %s: %s", path, strerror(errno));
	link[n] = 0;
	if (strcmp(link, "/memfd:cryo-fx (deleted)"))
		fx_fail("memfd: the mapping shows %s, not /memfd:cryo-fx (deleted)", link);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fx_fail("memfd: open %s: %s", path, strerror(errno));
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals != (F_SEAL_SHRINK | F_SEAL_GROW))
		fx_fail("memfd: seals are %#x, not F_SEAL_SHRINK|F_SEAL_GROW (%#x)", seals, F_SEAL_SHRINK | F_SEAL_GROW);
	if (lseek(fd, 0, SEEK_END) != 6 * page)
		fx_fail("memfd: its size is %ld, not %ld", (long)lseek(fd, 0, SEEK_END), 6 * page);
	close(fd);
}

static char file_path[2][256];
static int nfiles;

/* a file of 4 pages mapped shared twice (whole, and pages 2..3), its fd closed */
static void setup_file(int fd, const char *name, const char *path)
{
	struct object *o = object(name, 4);

	snprintf(file_path[nfiles++], sizeof(file_path[0]), "%s", path);
	if (fd < 0)
		fx_fail("%s: open %s: %s", name, path, strerror(errno));
	if (ftruncate(fd, 4 * page))
		fx_fail("%s: ftruncate: %s", name, strerror(errno));
	unsigned char *a = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *b = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * page);
	if (a == MAP_FAILED || b == MAP_FAILED)
		fx_fail("%s: mmap: %s", name, strerror(errno));
	view(o, a, 0, 4);
	for (long i = 0; i < 4; i++)
		write_page(o, i);
	view(o, b, 2, 2);
	close(fd);
}

/* what the mappings hold is what the file holds */
static void check_files(void)
{
	static unsigned char buf[1 << 16];

	for (int k = 0; k < nobjects; k++) {
		struct object *o = &objects[k];
		int n = !strcmp(o->name, "file") ? 0 : !strcmp(o->name, "devshm") ? 1 : -1;
		if (n < 0)
			continue;
		int fd = open(file_path[n], O_RDONLY);
		if (fd < 0)
			fx_fail("%s: reopen %s: %s", o->name, file_path[n], strerror(errno));
		for (long i = 0; i < 4; i++)
			if (pread(fd, buf, page, i * page) != page || memcmp(buf, o->view[0] + i * page, page))
				fx_fail("%s: page %ld of %s differs from its mapping", o->name, i, file_path[n]);
		close(fd);
		unlink(file_path[n]);
	}
}

struct advised {
	unsigned char *addr;
	const char *flag; /* the VmFlags mnemonic it shows */
	const char *what;
};
static struct advised advised[32];
static int nadvised;
static int vmflags_of(const unsigned char *addr, char *buf, size_t len);
static int shows(const char *vmflags, const char *flag);

static void setup_madvise(void)
{
	static const struct {
		int advice;
		const char *flag, *what;
	} list[] = {
		{ MADV_HUGEPAGE, "hg", "MADV_HUGEPAGE" },     { MADV_NOHUGEPAGE, "nh", "MADV_NOHUGEPAGE" },
		{ MADV_DONTFORK, "dc", "MADV_DONTFORK" },     { MADV_DONTDUMP, "dd", "MADV_DONTDUMP" },
		{ MADV_WIPEONFORK, "wf", "MADV_WIPEONFORK" }, { MADV_MERGEABLE, "mg", "MADV_MERGEABLE" },
		{ MADV_RANDOM, "rr", "MADV_RANDOM" },         { MADV_SEQUENTIAL, "sr", "MADV_SEQUENTIAL" },
	};

	for (unsigned i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		for (int shared = 0; shared < 2; shared++) {
			if (shared && list[i].advice == MADV_WIPEONFORK)
				continue; /* private mappings only */
			unsigned char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
						(shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				fx_fail("madvise: mmap: %s", strerror(errno));
			memset(p, 0x5a, 2 * page);
			if (madvise(p, 4 * page, list[i].advice)) {
				munmap(p, 4 * page); /* not on this kernel (THP or KSM not built in) */
				continue;
			}
			char flags[512];
			if (!vmflags_of(p, flags, sizeof(flags)) || !shows(flags, list[i].flag)) {
				munmap(p, 4 * page); /* accepted but not kept (KSM leaves shared mappings alone) */
				continue;
			}
			advised[nadvised].addr = p;
			advised[nadvised].flag = list[i].flag;
			advised[nadvised].what = list[i].what;
			nadvised++;
		}
}

/* the VmFlags line of the mapping holding addr, into buf; 0 when there is none */
static int vmflags_of(const unsigned char *addr, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long start, end, at = (unsigned long)addr;
	int inside = 0, found = 0;

	if (!f)
		fx_fail("madvise: cannot read /proc/self/smaps: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = at >= start && at < end;
		else if (inside && !strncmp(line, "VmFlags:", 8)) {
			snprintf(buf, len, "%s", line + 7); /* keeps the leading space */
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static int shows(const char *vmflags, const char *flag)
{
	char want[8];

	snprintf(want, sizeof(want), " %s", flag);
	for (const char *s = vmflags; (s = strstr(s, want)); s++)
		if (s[3] == ' ' || s[3] == '\n' || s[3] == 0)
			return 1;
	return 0;
}

static void check_madvise(void)
{
	char flags[512];

	for (int k = 0; k < nadvised; k++) {
		if (!vmflags_of(advised[k].addr, flags, sizeof(flags)))
			fx_fail("madvise: no VmFlags for the mapping at %p", advised[k].addr);
		if (!shows(flags, advised[k].flag))
			fx_fail("madvise: the mapping at %p lost %s (VmFlags:%s)", advised[k].addr, advised[k].what, flags);
		for (long i = 0; i < 2 * page; i++)
			if (advised[k].addr[i] != 0x5a)
				fx_fail("madvise: the mapping at %p (%s) lost its contents", advised[k].addr, advised[k].what);
	}
}

/* "write <count> <seed>": rewrites pages of the objects (for pre-dump scenarios) */
static void run_command(void)
{
	char line[256];
	long seq = fx_take_command(line, sizeof(line));
	long count;
	unsigned long long wseed;

	if (seq < 0)
		return;
	if (sscanf(line, "write %ld %llu", &count, &wseed) == 2 && nobjects > 0) {
		for (long n = 0; n < count; n++) {
			struct object *o = &objects[fx_rand(&wseed) % (unsigned long long)nobjects];
			long i = (long)(fx_rand(&wseed) % (unsigned long long)o->pages);
			if (page_of(o, i, -1))
				write_page(o, i);
		}
	} else if (strncmp(line, "write ", 6)) {
		fx_note_failure("unknown command '%s'", line);
	}
	fx_ack_command(seq);
}

int main(int argc, char **argv)
{
	const char *with = fx_opt_str(argc, argv, "with", "anon,zero");

	page = sysconf(_SC_PAGESIZE);
	seed = (unsigned long long)fx_opt_long(argc, argv, "seed", 7);
	fx_init("shmem");
	if (has(with, "anon"))
		setup_anon();
	if (has(with, "zero"))
		setup_zero();
	if (has(with, "memfd"))
		setup_memfd();
	if (has(with, "file")) {
		char path[256];
		snprintf(path, sizeof(path), "%s/cryo-shmem-%d", fx_opt_str(argc, argv, "dir", "/tmp"), (int)getpid());
		setup_file(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), "file", path);
	}
	if (has(with, "devshm")) {
		char name[64], path[128];
		snprintf(name, sizeof(name), "/cryo-shmem-%d", (int)getpid());
		snprintf(path, sizeof(path), "/dev/shm%s", name);
		setup_file(shm_open(name, O_RDWR | O_CREAT | O_TRUNC, 0600), "devshm", path);
	}
	if (has(with, "madvise"))
		setup_madvise();
	fx_ready();
	while (!fx_verify_requested()) {
		if (fx_command_pending())
			run_command();
		fx_sleep_ms(10);
	}
	if (fx_failed())
		fx_finish();
	for (int k = 0; k < nobjects; k++)
		check_object(&objects[k]);
	check_apart();
	check_madvise();
	check_memfd();
	check_files();
	fx_pass();
}
