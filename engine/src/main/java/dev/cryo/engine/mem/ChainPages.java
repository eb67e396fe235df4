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
 * Pages from an incremental chain: runs present in the last dump come from its pages image, runs it leaves to the
 * parent (PE_PARENT) are looked up in the parent, and so on down the {@code parent} links. One walk serves every
 * pagemap of a chain: a task's ({@code pagemap-PID.img}, into one {@link PageBuffer} as if a single full dump had
 * written it) and a shared memory object's ({@code pagemap-shmem-SHMID.img}, into the object's file).
 */
public final class ChainPages implements AutoCloseable {
    /** One level's pagemap of the walked object (level 0 is the directory being restored). */
    public interface Source {
        PageMap pagemap(ImageDir level) throws IOException;
    }

    /** Where the walk puts the bytes of addresses [vaddr, vaddr + len): they are at {@code fileOffset} of {@code pages}. */
    public interface Sink {
        void take(FileChannel pages, long fileOffset, long vaddr, long len) throws IOException;
    }

    private record Run(long vaddr, long pages, boolean present, boolean inParent, long fileOffset) {
        long end() {
            return vaddr + (pages << 12);
        }
    }

    private final List<ImageDir> chain;
    private final String name;
    private final Source source;
    private final List<NavigableMap<Long, Run>> indexes = new ArrayList<>();
    private final List<PageMap> maps = new ArrayList<>();
    private final Map<Integer, FileChannel> files = new HashMap<>();

    /**
     * A walk of the chain that ends in {@code dir}, whose pagemap of the object is {@code top}, named {@code name}
     * (for messages) and read at each level below by {@code source}. Close it to close the pages images it opened.
     */
    public ChainPages(ImageDir dir, PageMap top, String name, Source source) throws IOException {
        this.chain = dir.chain();
        this.name = name;
        this.source = source;
        maps.add(top);
    }

    /** Reads every page {@code map} (the pagemap of {@code dir}) names, following parents where it says so. */
    public static PageBuffer load(ImageDir dir, PageMap map, int pid) throws IOException {
        List<PageRun> runs = new ArrayList<>();
        for (PageMap.PageRun r : map.runs()) {
            if (r.present() || r.inParent()) {
                runs.add(new PageRun(r.vaddr(), Math.toIntExact(r.nrPages())));
            }
        }
        PageBuffer buf = PageBuffer.forRuns(runs);
        try (ChainPages c = new ChainPages(dir, map, "pagemap-" + pid + ".img", level -> level.pagemap(pid))) {
            long at = 0;
            for (PageRun r : runs) {
                long base = at - r.address();
                c.copy(r.address(), r.end(), (ch, off, vaddr, len) -> buf.readFrom(ch, off, base + vaddr, len));
                at += r.bytes();
            }
        }
        return buf;
    }

    /**
     * Hands {@code sink} every byte the last dump's pagemap holds, present or left to a parent, run by run. Runs the
     * pagemap marks neither way (holes, lazy runs) are not walked.
     */
    public void copyAll(Sink sink) throws IOException {
        for (PageMap.PageRun r : map(0).runs()) {
            if (r.present() || r.inParent()) {
                copy(r.vaddr(), r.end(), sink);
            }
        }
    }

    /** Hands {@code sink} the bytes of [from, to) as the last dump has them; every one must be there. */
    public void copy(long from, long to, Sink sink) throws IOException {
        copy(0, from, to, sink);
    }

    private void copy(int level, long from, long to, Sink sink) throws IOException {
        NavigableMap<Long, Run> idx = index(level);
        long at = from;
        Map.Entry<Long, Run> e = idx.floorEntry(at);
        Run r = e == null || e.getValue().end() <= at ? null : e.getValue();
        while (at < to) {
            if (r == null) {
                Map.Entry<Long, Run> next = idx.higherEntry(at);
                throw new IOException(chain.get(level).path() + "/" + name + " has no page at 0x"
                        + Long.toHexString(at) + ", which " + (level == 0 ? "itself" : chain.get(level - 1).path())
                        + " leaves to it" + (next == null ? "" : " (next run at 0x" + Long.toHexString(next.getKey()) + ")"));
            }
            long end = Math.min(to, r.end());
            if (r.present()) {
                sink.take(pagesFile(level), r.fileOffset() + (at - r.vaddr()), at, end - at);
            } else if (r.inParent()) {
                if (level + 1 >= chain.size()) {
                    throw new IOException(chain.get(level).path() + "/" + name + " leaves pages at 0x"
                            + Long.toHexString(at) + " to a parent, but the directory has no parent link");
                }
                copy(level + 1, at, end, sink);
            } else {
                throw new IOException(chain.get(level).path() + "/" + name + " has a lazy run at 0x"
                        + Long.toHexString(at) + ", which Cryo cannot restore");
            }
            at = end;
            Map.Entry<Long, Run> n = idx.ceilingEntry(at);
            r = n == null || n.getKey() != at ? null : n.getValue();
        }
    }

    private PageMap map(int level) throws IOException {
        while (maps.size() <= level) {
            ImageDir d = chain.get(maps.size());
            try {
                maps.add(source.pagemap(d));
            } catch (java.nio.file.NoSuchFileException e) {
                throw new IOException(d.path() + " has no " + name + (maps.isEmpty() ? ""
                        : ", which " + chain.get(maps.size() - 1).path() + " leaves pages to"), e);
            }
        }
        return maps.get(level);
    }

    private NavigableMap<Long, Run> index(int level) throws IOException {
        while (indexes.size() <= level) {
            PageMap map = map(indexes.size());
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
            ch = FileChannel.open(d.pagesPath(map(level).pagesId()), StandardOpenOption.READ);
            files.put(level, ch);
        }
        return ch;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (FileChannel ch : files.values()) {
            try {
                ch.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        files.clear();
        if (first != null) {
            throw first;
        }
    }
}
