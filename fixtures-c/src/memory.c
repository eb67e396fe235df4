/*
 * memory: deterministic content over many private anonymous mappings, checked page by page.
 *
 * --maps=N mappings; mapping k holds 1 + (k * 7919) % --pages=M pages (sizes vary); every third is
 * made read-only after filling, so protections vary too. Each page's content is a function of
 * (seed, mapping, page, generation): the fixture keeps the generations, the pages hold the data.
 * Command (SIGUSR1 + CRYO_FX_CMD line "<seq> write <count> <seed>"): rewrites <count> pages chosen by
 * a PRNG seeded with <seed> to their next generation; for incremental (pre-dump) tests.
 * Verdict: every page of every mapping holds exactly the content its generation says.
 */
#define _GNU_SOURCE
#include "fx.h"

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
	long pages;
	int prot;
	unsigned *generation;
};

static struct region regions[MAX_MAPS];
static int nregions;
static long page_size;
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
			int map = (int)(fx_rand(&wseed) % (unsigned long long)nregions);
			write_page(map, (long)(fx_rand(&wseed) % (unsigned long long)regions[map].pages));
		}
	} else {
		fx_note_failure("unknown command '%s'", line);
	}
	fx_ack_command(seq);
}

int main(int argc, char **argv)
{
	int maps = (int)fx_opt_long(argc, argv, "maps", 64);
	long max_pages = fx_opt_long(argc, argv, "pages", 16);

	fx_init("memory");
	page_size = sysconf(_SC_PAGESIZE);
	seed = (unsigned long long)fx_opt_long(argc, argv, "seed", 42);
	if (maps < 1 || maps > MAX_MAPS || max_pages < 1)
		fx_fail("bad parameters: --maps=%d --pages=%ld", maps, max_pages);
	for (int k = 0; k < maps; k++) {
		struct region *r = &regions[k];

		r->pages = 1 + ((long)k * 7919) % max_pages;
		r->prot = k % 3 == 2 ? PROT_READ : PROT_READ | PROT_WRITE;
		r->generation = calloc((size_t)r->pages, sizeof(unsigned));
		/* a guard page between mappings keeps the kernel from merging neighbours into one VMA */
		r->addr = mmap(NULL, (size_t)(r->pages + 1) * (size_t)page_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->addr == MAP_FAILED || !r->generation)
			fx_fail("cannot map %ld pages for mapping %d", r->pages, k);
		mprotect(r->addr + r->pages * page_size, (size_t)page_size, PROT_NONE);
		for (long p = 0; p < r->pages; p++)
			fill_page(r->addr + p * page_size, k, p, 0);
		if (r->prot != (PROT_READ | PROT_WRITE))
			mprotect(r->addr, (size_t)r->pages * (size_t)page_size, r->prot);
		nregions++;
	}
	fx_ready();
	while (!fx_verify_requested()) {
		if (fx_command_pending())
			run_command();
		fx_sleep_ms(10);
	}
	for (int k = 0; k < nregions; k++)
		for (long p = 0; p < regions[k].pages; p++) {
			long off;

			if (!page_matches(regions[k].addr + p * page_size, k, p, regions[k].generation[p], &off))
				fx_fail("mapping %d (%p) page %ld differs at byte %ld (generation %u)",
					k, (void *)regions[k].addr, p, off, regions[k].generation[p]);
		}
	fx_finish();
}
