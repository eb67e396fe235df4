package dev.cryo.image;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Where the pages of one task are stored across an incremental dump chain. Runs marked present point into
 * this directory's pages-N.img; runs marked in-parent are looked up in the parent directory's index.
 */
public final class PageIndex {
    private final ImageDir dir;
    private final int pid;
    private final int depth;
    private final Path pagesFile;
    private final TreeMap<Long, Run> runs = new TreeMap<>();
    private PageIndex parent;

    private PageIndex(ImageDir dir, int pid, int depth, Path pagesFile) {
        this.dir = dir;
        this.pid = pid;
        this.depth = depth;
        this.pagesFile = pagesFile;
    }

    /** Where one page lives: a pages-N.img file and the byte offset of the page in it. */
    public record PageLocation(Path pagesFile, long offset) {
    }

    private record Run(long vaddr, long nrPages, boolean present, boolean inParent, long fileOffset) {
        boolean covers(long addr) {
            return Long.compareUnsigned(addr, vaddr) >= 0
                    && Long.compareUnsigned(addr - vaddr, nrPages * PageMap.PAGE_SIZE) < 0;
        }
    }

    static PageIndex build(ImageDir dir, int pid, int depth) throws IOException {
        if (depth >= ImageDir.MAX_CHAIN) {
            throw new ImageFormatException(dir.path() + "/" + ImageDir.PARENT_LINK, 0,
                    "parent links form a loop or a chain deeper than " + ImageDir.MAX_CHAIN);
        }
        String name = "pagemap-" + pid + ".img";
        PageMap map = dir.pagemap(pid);
        PageIndex index = new PageIndex(dir, pid, depth, dir.pagesPath(map.pagesId()));
        long offset = 0;
        for (PageMap.PageRun r : map.runs()) {
            long bytes;
            try {
                bytes = Math.multiplyExact(r.nrPages(), (long) PageMap.PAGE_SIZE);
            } catch (ArithmeticException e) {
                throw new ImageFormatException(name, 0, "run at 0x" + Long.toHexString(r.vaddr()) + " has "
                        + Long.toUnsignedString(r.nrPages()) + " pages, more than an address space holds");
            }
            if (r.nrPages() < 0) {
                throw new ImageFormatException(name, 0, "run at 0x" + Long.toHexString(r.vaddr()) + " has a negative page count");
            }
            index.runs.put(r.vaddr(), new Run(r.vaddr(), r.nrPages(), r.present(), r.inParent(), offset));
            if (r.present()) {
                offset += bytes;
            }
        }
        return index;
    }

    /** The file and offset holding the page at {@code vaddr}, or empty if no image in the chain has it. */
    public Optional<PageLocation> locate(long vaddr) throws IOException {
        long page = vaddr & -PageMap.PAGE_SIZE;
        Map.Entry<Long, Run> e = runs.floorEntry(page);
        if (e == null || !e.getValue().covers(page)) {
            return Optional.empty();
        }
        Run r = e.getValue();
        if (r.present()) {
            return Optional.of(new PageLocation(pagesFile, r.fileOffset() + (page - r.vaddr())));
        }
        if (r.inParent()) {
            PageIndex p = parentIndex();
            return p == null ? Optional.empty() : p.locate(page);
        }
        return Optional.empty();
    }

    /** The 4096 bytes of the page at {@code vaddr}; fails if the chain does not hold it. */
    public byte[] readPage(long vaddr) throws IOException {
        PageLocation loc = locate(vaddr).orElseThrow(() -> new ImageFormatException("pagemap-" + pid + ".img", 0,
                "no image in the chain holds the page at 0x" + Long.toHexString(vaddr)));
        byte[] page = new byte[PageMap.PAGE_SIZE];
        try (RandomAccessFile f = new RandomAccessFile(loc.pagesFile().toFile(), "r")) {
            if (loc.offset() + page.length > f.length()) {
                throw new ImageFormatException(loc.pagesFile().getFileName().toString(), loc.offset(),
                        "page at 0x" + Long.toHexString(vaddr) + " lies beyond the end of the file (" + f.length() + " bytes)");
            }
            f.seek(loc.offset());
            f.readFully(page);
        }
        return page;
    }

    /** Runs of this directory only, in address order, as (vaddr, pages, present, in-parent). */
    public List<PageMap.PageRun> runs() {
        List<PageMap.PageRun> out = new ArrayList<>(runs.size());
        for (Run r : runs.values()) {
            int flags = (r.present() ? PageMap.PE_PRESENT : 0) | (r.inParent() ? PageMap.PE_PARENT : 0);
            out.add(new PageMap.PageRun(r.vaddr(), r.nrPages(), flags));
        }
        return out;
    }

    private PageIndex parentIndex() throws IOException {
        if (parent == null) {
            Optional<ImageDir> p = dir.parent();
            if (p.isEmpty() || !Files.exists(p.get().resolve("pagemap-" + pid + ".img"))) {
                return null;
            }
            parent = build(p.get(), pid, depth + 1);
        }
        return parent;
    }
}
