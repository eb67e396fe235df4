package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.TrackedTarget;
import dev.cryo.engine.mem.UffdKeeper;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.image.ImageDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The incremental side of a tree's dump, as CRIU does it: each task has its own pagemap with its own parent
 * images and its own memory tracker ({@link IncrementalDump}); the images directory has one parent link. A task
 * born since the previous dump is dumped in full, a task gone since is simply not in this one, and shared memory
 * (no tracker follows it) is saved in full by every dump that is not a pre-dump. A single process is the
 * one-task tree.
 */
final class IncrementalTree {
    private final DumpOptions options;
    private final ProcFs proc;
    private final Log log;
    private final int root;
    /** The previous dump, checked once; null without {@code --prev-images-dir}. */
    private final PrevImages.Chain chain;
    private final Map<String, List<UffdKeeper>> keepers;
    private final Map<Integer, IncrementalDump> tasks = new LinkedHashMap<>();

    private IncrementalTree(DumpOptions options, ProcFs proc, Log log, PrevImages.Chain chain,
                            Map<String, List<UffdKeeper>> keepers) {
        this.options = options;
        this.proc = proc;
        this.log = log;
        this.root = options == null ? 0 : options.pid();
        this.chain = chain;
        this.keepers = keepers;
    }

    static IncrementalTree none() {
        return new IncrementalTree(null, null, null, null, Map.of());
    }

    /** The previous dump ({@code --prev-images-dir}), or null. */
    ImageDir parent() {
        return chain == null ? null : chain.dir();
    }

    /** Whether the dump is incremental at all: a previous dump to build on, or a tracker to arm. */
    boolean active() {
        return options != null;
    }

    /** Before the freeze, for every live task (every refusal happens here, with the tree untouched). */
    static IncrementalTree prepare(DumpOptions options, ProcFs proc, Log log, Collection<Integer> pids)
            throws CryoException {
        return prepare(options, proc, log, pids, p -> p);
    }

    /** As above, {@code inImages} naming each task as the images do (a container's by the pids inside it). */
    static IncrementalTree prepare(DumpOptions options, ProcFs proc, Log log, Collection<Integer> pids,
                                   java.util.function.IntUnaryOperator inImages) throws CryoException {
        boolean arm = options.preDump() || options.trackMem();
        if (options.prevImagesDir() == null && !arm) {
            return none();
        }
        PrevImages.Chain chain = options.prevImagesDir() == null ? null
                : PrevImages.Chain.open(options.prevImagesDir(), options.imagesDir(), options.pid(), inImages);
        IncrementalTree tree = new IncrementalTree(options, proc, log, chain, UffdKeeper.all());
        for (int pid : pids) {
            tree.tasks.put(pid, IncrementalDump.prepare(options, proc, log, pid, pid == options.pid(), chain,
                    tree.keepers));
        }
        if (arm && tree.tasks.values().stream().anyMatch(d -> "uffd-wp".equals(d.armName()))) {
            Warmup.bindSpawnInBackground(); // keepers are spawned right after the tree runs on again
        }
        return tree;
    }

    /**
     * Task {@code pid}'s part, once the tree is frozen; a task born while it was being frozen gets its part now
     * (in full, with a tracker armed). Tasks no longer in the tree are dropped by {@link #retain}.
     */
    IncrementalDump of(int pid) throws CryoException {
        if (!active()) {
            return IncrementalDump.none();
        }
        IncrementalDump d = tasks.get(pid);
        if (d == null) {
            d = IncrementalDump.prepare(options, proc, log, pid, pid == root, chain, keepers);
            tasks.put(pid, d);
        }
        return d;
    }

    /** Keeps the parts of the tasks the frozen tree has (a task that exited since the check has none). */
    void retain(Collection<Integer> pids) {
        tasks.keySet().retainAll(pids);
    }

    /**
     * Whether a pre-dump may read its pages after the tree runs on again: every task's tracker is a kernel one
     * (see {@link IncrementalDump#pagesAfterResume}).
     */
    boolean pagesAfterResume() {
        return active() && tasks.values().stream().allMatch(IncrementalDump::pagesAfterResume);
    }

    /** While frozen, after the memory was planned: the parent link once, and each live task's tracker armed. */
    void finish(ImageDir dir, Collection<TaskDump> frozen) throws CryoException {
        try {
            try (Stream<Path> s = Files.list(dir.path())) {
                for (Path p : s.toList()) {
                    if (p.getFileName().toString().startsWith(TrackState.FILE)) {
                        Files.deleteIfExists(p); // an earlier dump's track states in a reused directory
                    }
                }
            }
            Files.deleteIfExists(dir.resolve(ImageDir.PARENT_LINK));
            if (chain != null) {
                dir.linkParent(chain.dir().path().toAbsolutePath());
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + root + ": cannot link " + dir.path() + " to its parent: "
                    + e.getMessage(), e);
        }
        for (TaskDump t : frozen) {
            if (!t.zombie() && t.remote() != null) {
                t.incremental.finish(dir, new TrackedTarget(t.pid(), t.remote()));
            }
        }
    }

    /** After the tree was released: each task's tracker state saved; the first failure is reported after all. */
    void commit() throws CryoException {
        CryoException failed = null;
        for (IncrementalDump d : tasks.values()) {
            try {
                d.commit();
            } catch (CryoException e) {
                if (failed == null) {
                    failed = e;
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    void abort() {
        tasks.values().forEach(IncrementalDump::abort);
    }
}
