/*
 * memory: deterministic content over many private anonymous mappings, checked page by page.
 *
 * --maps=N mappings; mapping k holds 1 + (k * 7919) % --pages=M pages (sizes vary); every third is
 * made read-only after filling, so protections vary too. Each page's content is a function of
 * (seed, mapping, page, generation): the fixture keeps the generations, the pages hold the data.
 * Commands (SIGUSR1 + CRYO_FX_CMD line "<seq> <verb> <args>"), for incremental (pre-dump) tests; each
 * picks its mappings and pages with a PRNG seeded with <seed>:
 *   write <count> <seed>  rewrites <count> pages to their next generation
 *   mmap <seed>           maps a new mapping (1..--pages pages, own guard page) and fills it
 *   munmap <seed>         unmaps a mapping (never the last one)
 *   mprotect <seed>       turns a mapping's protection rw -> r -> none -> rw
 *   mremap <seed>         grows a mapping by a page (it moves: its guard page is in the way) or shrinks it
 * Verdict: every page of every live mapping holds exactly the content its generation says.
 */
#define _GNU_SOURCE
#include "fx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MAPS 1024
/* every page starts with this tag, so a tool can find pattern pages in a pages image */
static const char page_tag[8] = "CRYOPAT";

struct region {
	unsigned char *addr;
	unsigned char *guard; /* the PROT_NONE page after it, or NULL */
	long pages;
	int prot;
	int live;
	unsigned *generation;
};

static struct region regions[MAX_MAPS];
static int nregions;
static long page_size;
static long max_pages;
static unsigned long long seed;

static void fill_page(unsigned char *page, int map, long index, unsigned gen)
{
	unsigned long long state = seed ^ ((unsigned long long)map << 40) ^ ((unsigned long long)index << 8) ^ gen;
	uint64_t *words = (uint64_t *)page;

	memcpy(page, page_tag, 8);
	words[1] = ((uint64_t)map << 32) | (uint64_t)index;
	words[2] = gen;
	for (long w = 3; w < page_size / 8; w++)
		words[w] = fx_rand(&state);
}

static int page_matches(const unsigned char *page, int map, long index, unsigned gen, long *bad_offset)
{
	static unsigned char expect[1 << 16];

	fill_page(expect, map, index, gen);
	for (long off = 0; off < page_size; off++)
		if (page[off] != expect[off]) {
			*bad_offset = off;
			return 0;
		}
	return 1;
}

static void write_page(int map, long index)
{
	struct region *r = &regions[map];

	if (!(r->prot & PROT_WRITE))
		mprotect(r->addr, r->pages * page_size, PROT_READ | PROT_WRITE);
	r->generation[index]++;
	fill_page(r->addr + index * page_size, map, index, r->generation[index]);
	if (!(r->prot & PROT_WRITE))
		mprotect(r->addr, r->pages * page_size, r->prot);
}

/* Maps region k with its pages at generation 0 and a guard page after it, which keeps the kernel from
 * merging neighbours into one VMA. */
static void map_region(int k, long pages, int prot)
{
	struct region *r = &regions[k];

	r->pages = pages;
	r->prot = prot;
	r->generation = calloc((size_t)pages, sizeof(unsigned));
	r->addr = mmap(NULL, (size_t)(pages + 1) * (size_t)page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->addr == MAP_FAILED || !r->generation)
		fx_fail("cannot map %ld pages for mapping %d", pages, k);
	r->guard = r->addr + pages * page_size;
	mprotect(r->guard, (size_t)page_size, PROT_NONE);
	for (long p = 0; p < pages; p++)
		fill_page(r->addr + p * page_size, k, p, 0);
	if (prot != (PROT_READ | PROT_WRITE))
		mprotect(r->addr, (size_t)pages * (size_t)page_size, prot);
	r->live = 1;
}

static int live_regions(void)
{
	int n = 0;

	for (int k = 0; k < nregions; k++)
		n += regions[k].live;
	return n;
}

/* A live mapping chosen by the PRNG. */
static int pick_live(unsigned long long *state)
{
	int k = (int)(fx_rand(state) % (unsigned long long)nregions);

	while (!regions[k].live)
		k = (k + 1) % nregions;
	return k;
}

static void unmap_region(int k)
{
	struct region *r = &regions[k];

	if (munmap(r->addr, (size_t)r->pages * (size_t)page_size) || (r->guard && munmap(r->guard, (size_t)page_size)))
		fx_fail("munmap of mapping %d: %s", k, strerror(errno));
	free(r->generation);
	r->live = 0;
}

static void protect_region(int k)
{
	struct region *r = &regions[k];
	int next = r->prot == (PROT_READ | PROT_WRITE) ? PROT_READ : r->prot == PROT_READ ? PROT_NONE
											     : PROT_READ | PROT_WRITE;

	if (mprotect(r->addr, (size_t)r->pages * (size_t)page_size, next))
		fx_fail("mprotect of mapping %d: %s", k, strerror(errno));
	r->prot = next;
}

/* Grows by a page (moving, as the guard page blocks growth in place) or shrinks by one (in place). */
static void remap_region(int k, unsigned long long *state)
{
	struct region *r = &regions[k];
	long old = r->pages;
	long pages = old == 1 || fx_rand(state) % 2 ? old + 1 : old - 1;
	unsigned char *addr = mremap(r->addr, (size_t)old * (size_t)page_size, (size_t)pages * (size_t)page_size,
				     MREMAP_MAYMOVE);

	if (addr == MAP_FAILED)
		fx_fail("mremap of mapping %d to %ld pages: %s", k, pages, strerror(errno));
	if (addr != r->addr && r->guard) {
		munmap(r->guard, (size_t)page_size);
		r->guard = mmap(addr + pages * page_size, (size_t)page_size, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (r->guard == MAP_FAILED)
			r->guard = NULL;
	}
	r->addr = addr;
	r->generation = realloc(r->generation, (size_t)pages * sizeof(unsigned));
	if (!r->generation)
		fx_fail("out of memory");
	r->pages = pages;
	if (pages > old) {
		r->generation[old] = 0;
		if (!(r->prot & PROT_WRITE))
			mprotect(r->addr, (size_t)pages * (size_t)page_size, PROT_READ | PROT_WRITE);
		fill_page(r->addr + old * page_size, k, old, 0);
		if (!(r->prot & PROT_WRITE))
			mprotect(r->addr, (size_t)pages * (size_t)page_size, r->prot);
	}
}

static void run_command(void)
{
	char line[256];
	long seq = fx_take_command(line, sizeof(line));
	long count;
	unsigned long long wseed;

	if (seq < 0)
		return;
	if (sscanf(line, "write %ld %llu", &count, &wseed) == 2) {
		for (long n = 0; n < count; n++) {
			int map = pick_live(&wseed);
			write_page(map, (long)(fx_rand(&wseed) % (unsigned long long)regions[map].pages));
		}
	} else if (sscanf(line, "mmap %llu", &wseed) == 1) {
		if (nregions == MAX_MAPS)
			fx_fail("too many mappings");
		map_region(nregions, 1 + (long)(fx_rand(&wseed) % (unsigned long long)max_pages), PROT_READ | PROT_WRITE);
		nregions++;
	} else if (sscanf(line, "munmap %llu", &wseed) == 1) {
		if (live_regions() > 1)
			unmap_region(pick_live(&wseed));
	} else if (sscanf(line, "mprotect %llu", &wseed) == 1) {
		protect_region(pick_live(&wseed));
	} else if (sscanf(line, "mremap %llu", &wseed) == 1) {
		int k = pick_live(&wseed);

		remap_region(k, &wseed);
	} else {
		fx_note_failure("unknown command '%s'", line);
	}
	fx_ack_command(seq);
}

int main(int argc, char **argv)
{
	int maps = (int)fx_opt_long(argc, argv, "maps", 64);

	max_pages = fx_opt_long(argc, argv, "pages", 16);

	fx_init("memory");
	page_size = sysconf(_SC_PAGESIZE);
	seed = (unsigned long long)fx_opt_long(argc, argv, "seed", 42);
	if (maps < 1 || maps > MAX_MAPS || max_pages < 1)
		fx_fail("bad parameters: --maps=%d --pages=%ld", maps, max_pages);
	for (int k = 0; k < maps; k++) {
		map_region(k, 1 + ((long)k * 7919) % max_pages, k % 3 == 2 ? PROT_READ : PROT_READ | PROT_WRITE);
		nregions++;
	}
	fx_ready();
	while (!fx_verify_requested()) {
		if (fx_command_pending())
			run_command();
		fx_sleep_ms(10);
	}
	for (int k = 0; k < nregions; k++) {
		if (!regions[k].live)
			continue;
		if (regions[k].prot == PROT_NONE)
			mprotect(regions[k].addr, (size_t)regions[k].pages * (size_t)page_size, PROT_READ);
		for (long p = 0; p < regions[k].pages; p++) {
			long off;

			if (!page_matches(regions[k].addr + p * page_size, k, p, regions[k].generation[p], &off))
				fx_fail("mapping %d (%p) page %ld differs at byte %ld (generation %u)",
					k, (void *)regions[k].addr, p, off, regions[k].generation[p]);
		}
	}
	fx_finish();
}
