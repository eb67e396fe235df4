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
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The images {@code --prev-images-dir} points at, for one task of the tree, checked before the target is touched:
 * a dump of this very process, and a parent chain in which every page a pagemap leaves to a parent is really there.
 * {@link Chain} checks the directory once for the whole tree; {@link Chain#task} gives each task's part.
 *
 * @param dir      the previous dump
 * @param coverage every page the chain can give back (what a new pagemap may leave to the parent)
 * @param state    what that dump armed, or null (then every page counts as written)
 * @param depth    the chain's length, the previous dump included
 */
record PrevImages(ImageDir dir, PageRanges coverage, TrackState state, int depth) {

    /**
     * The previous dump of a tree: its directory and parent chain, and the pids its pstree.img lists.
     *
     * @param root the tree's root, which the previous dump must be of
     */
    record Chain(ImageDir dir, List<ImageDir> chain, Set<Integer> pids, int root,
                 java.util.function.IntUnaryOperator inImages) {

        static Chain open(Path prev, Path imagesDir, int root) throws CryoException {
            return open(prev, imagesDir, root, p -> p);
        }

        /**
         * @param inImages a task's pid as the images name it, from the pid Cryo sees: a container's images are named
         *                 by the pids inside it
         */
        static Chain open(Path prev, Path imagesDir, int root, java.util.function.IntUnaryOperator inImages)
                throws CryoException {
            String where = "cannot dump pid " + root + ": --prev-images-dir " + prev + ": ";
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
            if (tree.isEmpty() || tree.get(0).getPid() != inImages.applyAsInt(root)) {
                throw new CryoException(where + "holds the images of pid " + (tree.isEmpty() ? "(none)" : tree.get(0).getPid())
                        + ", not of pid " + root);
            }
            Set<Integer> pids = new HashSet<>();
            tree.forEach(e -> pids.add(e.getPid()));
            return new Chain(dir, chain, pids, root, inImages);
        }

        /**
         * The part of task {@code pid} (started at {@code startTime}), or null when the previous dump does not hold
         * this process: a task born since, or another process that reuses a pid of the previous tree. Such a task is
         * dumped in full. A root that does not match is refused: the chain is of another process.
         */
        PrevImages task(int pid, long startTime) throws CryoException {
            boolean isRoot = pid == root;
            String where = "cannot dump pid " + pid + ": --prev-images-dir " + dir.path() + ": ";
            int named = inImages.applyAsInt(pid); // the images' name for it
            if (!isRoot && (!pids.contains(named) || !Files.exists(dir.resolve("pagemap-" + named + ".img")))) {
                return null; // new since, or a zombie then: nothing of its memory is there
            }
            TrackState state;
            try {
                state = TrackState.read(dir.path(), TrackState.file(pid, isRoot));
            } catch (IOException e) {
                throw new CryoException(where + "cannot read its track state: " + e.getMessage());
            }
            if (state != null && (state.pid() != pid || state.startTime() != startTime)) {
                if (!isRoot) {
                    return null; // the pid is another process's now
                }
                throw new CryoException(where + "holds the images of an earlier process with pid " + pid
                        + " (started at tick " + state.startTime() + ", this one at tick " + startTime + ")");
            }
            return new PrevImages(dir, coverage(chain, named, isRoot, where), state, chain.size());
        }
    }

    /**
     * What the chain holds for {@code pid}, checked from the oldest dump on: every in-parent run must be in the
     * parent. Every dump of the chain holds the root; a dump without another task's pagemap (it was not born yet)
     * ends what lies below it.
     */
    private static PageRanges coverage(List<ImageDir> chain, int pid, boolean root, String where) throws CryoException {
        PageRanges below = null;
        for (int i = chain.size() - 1; i >= 0; i--) {
            ImageDir d = chain.get(i);
            String name = d.path() + "/pagemap-" + pid + ".img";
            PageMap map;
            try {
                map = d.pagemap(pid);
            } catch (NoSuchFileException e) {
                if (i == 0 || root) {
                    throw new CryoException(where + "broken chain: " + name + " is missing");
                }
                below = null; // the task is younger than this dump: a later one holds it in full
                continue;
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
                            + d.path() + " has no parent link, or its parent no pagemap of pid " + pid);
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
