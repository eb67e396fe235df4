package dev.cryo.engine.mem;

import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The pages of a task from an incremental chain: runs present in the last dump come from its pages image, runs
 * it leaves to the parent are looked up in the parent, and so on down the {@code parent} links. The result is
 * one {@link PageBuffer} for every run of the last pagemap, as if a single full dump had written it.
 */
public final class ChainPages {
    private record Run(long vaddr, long pages, boolean present, boolean inParent, long fileOffset) {
        long end() {
            return vaddr + (pages << 12);
        }
    }

    private final List<ImageDir> chain;
    private final int pid;
    private final List<NavigableMap<Long, Run>> indexes = new ArrayList<>();
    private final Map<Integer, FileChannel> files = new HashMap<>();

    private ChainPages(List<ImageDir> chain, int pid) {
        this.chain = chain;
        this.pid = pid;
    }

    /** Reads every page {@code map} (the pagemap of {@code dir}) names, following parents where it says so. */
    public static PageBuffer load(ImageDir dir, PageMap map, int pid) throws IOException {
        ChainPages c = new ChainPages(dir.chain(), pid);
        try {
            return c.fill(map);
        } finally {
            for (FileChannel ch : c.files.values()) {
                ch.close();
            }
        }
    }

    private PageBuffer fill(PageMap map) throws IOException {
        List<PageRun> runs = new ArrayList<>();
        for (PageMap.PageRun r : map.runs()) {
            if (r.present() || r.inParent()) {
                runs.add(new PageRun(r.vaddr(), Math.toIntExact(r.nrPages())));
            }
        }
        PageBuffer buf = PageBuffer.forRuns(runs);
        long at = 0;
        for (PageRun r : runs) {
            copy(0, r.address(), r.end(), buf, at);
            at += r.bytes();
        }
        return buf;
    }

    /** Copies [from, to) as level {@code level} of the chain has it into the buffer at {@code bufferOffset}. */
    private void copy(int level, long from, long to, PageBuffer buf, long bufferOffset) throws IOException {
        NavigableMap<Long, Run> idx = index(level);
        long at = from;
        Map.Entry<Long, Run> e = idx.floorEntry(at);
        Run r = e == null || e.getValue().end() <= at ? null : e.getValue();
        while (at < to) {
            if (r == null) {
                Map.Entry<Long, Run> next = idx.higherEntry(at);
                throw new IOException(chain.get(level).path() + "/pagemap-" + pid + ".img has no page at 0x"
                        + Long.toHexString(at) + ", which " + (level == 0 ? "itself" : chain.get(level - 1).path())
                        + " leaves to it" + (next == null ? "" : " (next run at 0x" + Long.toHexString(next.getKey()) + ")"));
            }
            long end = Math.min(to, r.end());
            if (r.present()) {
                buf.readFrom(pagesFile(level), r.fileOffset() + (at - r.vaddr()), bufferOffset + (at - from), end - at);
            } else if (r.inParent()) {
                if (level + 1 >= chain.size()) {
                    throw new IOException(chain.get(level).path() + " leaves pages at 0x" + Long.toHexString(at)
                            + " to a parent, but has no parent link");
                }
                copy(level + 1, at, end, buf, bufferOffset + (at - from));
            } else {
                throw new IOException(chain.get(level).path() + "/pagemap-" + pid + ".img has a lazy run at 0x"
                        + Long.toHexString(at) + ", which Cryo cannot restore");
            }
            at = end;
            Map.Entry<Long, Run> n = idx.ceilingEntry(at);
            r = n == null || n.getKey() != at ? null : n.getValue();
        }
    }

    private NavigableMap<Long, Run> index(int level) throws IOException {
        while (indexes.size() <= level) {
            PageMap map = chain.get(indexes.size()).pagemap(pid);
            NavigableMap<Long, Run> idx = new TreeMap<>();
            long offset = 0;
            for (PageMap.PageRun r : map.runs()) {
                idx.put(r.vaddr(), new Run(r.vaddr(), r.nrPages(), r.present(), r.inParent(), offset));
                if (r.present()) {
                    offset += r.nrPages() << 12;
                }
            }
            indexes.add(idx);
        }
        return indexes.get(level);
    }

    private FileChannel pagesFile(int level) throws IOException {
        FileChannel ch = files.get(level);
        if (ch == null) {
            ImageDir d = chain.get(level);
            ch = FileChannel.open(d.pagesPath(d.pagemap(pid).pagesId()), StandardOpenOption.READ);
            files.put(level, ch);
        }
        return ch;
    }
}
