package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.mem.PageRanges;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.pstree_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The images {@code --prev-images-dir} points at, checked before the target is touched: a dump of this very
 * process, and a parent chain in which every page a pagemap leaves to a parent is really there.
 *
 * @param dir      the previous dump
 * @param coverage every page the chain can give back (what a new pagemap may leave to the parent)
 * @param state    what that dump armed, or null (then every page counts as written)
 * @param depth    the chain's length, the previous dump included
 */
record PrevImages(ImageDir dir, PageRanges coverage, TrackState state, int depth) {

    static PrevImages open(Path prev, Path imagesDir, int pid, long startTime) throws CryoException {
        String where = "cannot dump pid " + pid + ": --prev-images-dir " + prev + ": ";
        if (!Files.isDirectory(prev)) {
            throw new CryoException(where + "no such images directory");
        }
        try {
            if (Files.isSameFile(prev, imagesDir)) {
                throw new CryoException(where + "it is the images directory itself; give the previous dump's directory");
            }
        } catch (IOException e) {
            throw new CryoException(where + e.getMessage());
        }
        ImageDir dir;
        List<ImageDir> chain;
        try {
            dir = ImageDir.open(prev);
            chain = dir.chain();
        } catch (IOException e) {
            throw new CryoException(where + "broken chain: " + e.getMessage());
        }
        List<pstree_entry> tree;
        try {
            tree = dir.pstree();
        } catch (NoSuchFileException e) {
            throw new CryoException(where + "holds no dump (pstree.img is missing)");
        } catch (IOException e) {
            throw new CryoException(where + "cannot read pstree.img: " + e.getMessage());
        }
        if (tree.isEmpty() || tree.get(0).getPid() != pid) {
            throw new CryoException(where + "holds the images of pid " + (tree.isEmpty() ? "(none)" : tree.get(0).getPid())
                    + ", not of pid " + pid);
        }
        TrackState state;
        try {
            state = TrackState.read(prev);
        } catch (IOException e) {
            throw new CryoException(where + "cannot read its track state: " + e.getMessage());
        }
        if (state != null && (state.pid() != pid || state.startTime() != startTime)) {
            throw new CryoException(where + "holds the images of an earlier process with pid " + pid
                    + " (started at tick " + state.startTime() + ", this one at tick " + startTime + ")");
        }
        return new PrevImages(dir, coverage(chain, pid, where), state, chain.size());
    }

    /** What the chain holds, checked from the oldest dump on: every in-parent run must be in the parent. */
    private static PageRanges coverage(List<ImageDir> chain, int pid, String where) throws CryoException {
        PageRanges below = null;
        for (int i = chain.size() - 1; i >= 0; i--) {
            ImageDir d = chain.get(i);
            String name = d.path() + "/pagemap-" + pid + ".img";
            PageMap map;
            try {
                map = d.pagemap(pid);
            } catch (NoSuchFileException e) {
                throw new CryoException(where + "broken chain: " + name + " is missing");
            } catch (IOException | RuntimeException e) {
                throw new CryoException(where + "broken chain: cannot read " + name + ": " + e.getMessage());
            }
            PageRanges.Builder present = PageRanges.builder(), parent = PageRanges.builder();
            long presentPages = 0;
            for (PageMap.PageRun r : map.runs()) {
                if (r.inParent()) {
                    parent.addPages(r.vaddr(), r.nrPages());
                } else if (r.present()) {
                    present.addPages(r.vaddr(), r.nrPages());
                    presentPages += r.nrPages();
                }
            }
            Path pages = d.pagesPath(map.pagesId());
            try {
                long size = presentPages == 0 && !Files.exists(pages) ? 0 : Files.size(pages);
                if (size < presentPages * 4096) {
                    throw new CryoException(where + "broken chain: " + pages + " holds " + size + " bytes, its pagemap needs "
                            + presentPages * 4096);
                }
            } catch (IOException e) {
                throw new CryoException(where + "broken chain: " + pages + " is missing");
            }
            PageRanges inParent = parent.build();
            if (!inParent.isEmpty()) {
                if (below == null) {
                    throw new CryoException(where + "broken chain: " + name + " leaves pages to a parent, but "
                            + d.path() + " has no parent link");
                }
                PageRanges missing = inParent.minus(below);
                if (!missing.isEmpty()) {
                    throw new CryoException(where + "broken chain: " + name + " leaves pages " + missing
                            + " to its parent, which does not hold them");
                }
            }
            below = present.build().union(inParent);
        }
        return below;
    }
}
