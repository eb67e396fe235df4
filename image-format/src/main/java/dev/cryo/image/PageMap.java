package dev.cryo.image;

import dev.cryo.image.proto.pagemap_entry;

import java.util.ArrayList;
import java.util.List;

/**
 * The content of pagemap-PID.img: which pages-N.img holds the pages ({@link #pagesId()}) and runs of pages in
 * address order. Runs with {@link #PE_PRESENT} occupy consecutive pages in pages-N.img; runs with
 * {@link #PE_PARENT} live in the parent image directory.
 */
public record PageMap(int pagesId, List<pagemap_entry> entries) {
    public static final int PAGE_SIZE = 4096;
    /** The pages are in the parent image (incremental dumps). */
    public static final int PE_PARENT = 1;
    /** The pages may be fetched lazily (userfaultfd). */
    public static final int PE_LAZY = 1 << 1;
    /** The pages are in this directory's pages-N.img. */
    public static final int PE_PRESENT = 1 << 2;

    public PageMap {
        entries = List.copyOf(entries);
    }

    /**
     * A run of {@code nrPages} pages at {@code vaddr}. Both nr_pages (CRIU 4.x) and compat_nr_pages (older
     * CRIU and crit 3.17) are set when the count fits 32 bits, so every reader sees it.
     */
    public static pagemap_entry entry(long vaddr, long nrPages, int flags) {
        pagemap_entry.Builder b = pagemap_entry.newBuilder().setVaddr(vaddr).setFlags(flags).setNrPages(nrPages);
        b.setCompatNrPages(nrPages >= 0 && nrPages <= 0xffff_ffffL ? (int) nrPages : 0);
        return b.build();
    }

    /** Pages in the run: nr_pages when present (CRIU 4.x), else compat_nr_pages. */
    public static long pageCount(pagemap_entry e) {
        return e.hasNrPages() ? e.getNrPages() : Integer.toUnsignedLong(e.getCompatNrPages());
    }

    /** PE_* flags of the run; images older than flags say in_parent or nothing (meaning present). */
    public static int flags(pagemap_entry e) {
        if (e.hasFlags()) {
            return e.getFlags();
        }
        return e.hasInParent() && e.getInParent() ? PE_PARENT : PE_PRESENT;
    }

    /** The runs as plain values. */
    public List<PageRun> runs() {
        List<PageRun> out = new ArrayList<>(entries.size());
        for (pagemap_entry e : entries) {
            out.add(new PageRun(e.getVaddr(), pageCount(e), flags(e)));
        }
        return out;
    }

    /** A run of pages: start address, page count, PE_* flags. */
    public record PageRun(long vaddr, long nrPages, int flags) {
        public boolean present() {
            return (flags & PE_PRESENT) != 0;
        }

        public boolean inParent() {
            return (flags & PE_PARENT) != 0;
        }

        /** One past the last address of the run. */
        public long end() {
            return vaddr + nrPages * PAGE_SIZE;
        }
    }
}
