package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.ContentHashTracker;
import dev.cryo.engine.mem.DirtyTracker;
import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageHashes;
import dev.cryo.engine.mem.PageMapScanner;
import dev.cryo.engine.mem.PageRanges;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.TrackedTarget;
import dev.cryo.engine.mem.UffdKeeper;
import dev.cryo.engine.mem.UffdWpTracker;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.pagemap_entry;
import dev.cryo.image.proto.pagemap_head;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The incremental side of one task's dump: {@code --prev-images-dir} (write only pages written since the previous
 * dump, leave the rest to it), and {@code pre-dump} / {@code --track-mem} (arm a tracker for the next one).
 * {@link IncrementalTree} holds one per task of the tree and calls it at three points: {@link #prepare} before the
 * freeze (every refusal happens there, with the target untouched), {@link #plan} (from the task's
 * {@link TaskDump}) and {@link #finish} while frozen, {@link #commit} or {@link #abort} after.
 *
 * <p>A page goes to the parent only if all of these hold: its VMA was armed by the previous dump and is
 * unchanged (same bounds, protection and backing), the tracker does not report it written, and the chain
 * holds it. Anything else is written in full, so an unknown state is always a written one.
 */
final class IncrementalDump {
    private final Log log;
    private final int pid;
    private final long startTime;
    private final PrevImages prev;
    /** Answers "written since the previous dump"; null when the previous state cannot be trusted. */
    private final DirtyTracker computing;
    /** The tracker to arm for the next dump, by name; null when this dump arms none. */
    private final String armName;
    /** The tracker this dump arms, made before the freeze (finding earlier keepers lists /proc); null: none. */
    private DirtyTracker arming;
    private List<MapsEntry> armedVmas;
    private ImageDir armedDir;
    private List<MapsEntry> maps = List.of();
    private PageRanges own = PageRanges.EMPTY;
    private String armedKeeper;

    /** The root's track state goes to {@code cryo-track}, another task's to {@code cryo-track-PID}. */
    private final boolean root;
    /** Live uffd-wp keepers of this task found before the freeze: ended once this dump went through. */
    private final List<UffdKeeper> keepers;

    private IncrementalDump(Log log, int pid, long startTime, PrevImages prev, DirtyTracker computing, String armName,
                            boolean root, List<UffdKeeper> keepers) {
        this.log = log;
        this.pid = pid;
        this.startTime = startTime;
        this.prev = prev;
        this.computing = computing;
        this.armName = armName;
        this.root = root;
        this.keepers = keepers;
    }

    /** What a dump of memory saves: pages to read and write, the pagemap, and how many pages stay in the parent. */
    record MemoryPlan(List<PageRun> present, Set<PageRun> unreadable, List<pagemap_entry> entries, long skipped) {
    }

    static IncrementalDump none() {
        return new IncrementalDump(null, 0, 0, null, null, null, true, List.of());
    }

    /** The tracker this dump arms, or null. */
    String armName() {
        return armName;
    }

    boolean active() {
        return prev != null || armName != null;
    }

    /**
     * Whether a pre-dump may read its pages after the target is resumed: the tracker it arms while the target is
     * frozen is a kernel one (uffd-wp, soft-dirty), so every page written after the freeze is written for the next
     * dump, and a page read late that the program changed meanwhile is saved again then. Not with content-hash: its
     * hashes are of the frozen memory, and a page changed and changed back would be clean with the wrong content.
     */
    boolean pagesAfterResume() {
        return "uffd-wp".equals(armName) || "soft-dirty".equals(armName);
    }

    /**
     * The incremental side of task {@code pid}'s dump (the root's or another task's of the tree), before the freeze:
     * its part of the previous dump ({@code chain}, null without {@code --prev-images-dir}), the tracker that tells
     * what it wrote since, and the tracker to arm. {@code keepers}: every live uffd-wp keeper, by target.
     * A task that is gone already gets nothing (it is not dumped).
     */
    static IncrementalDump prepare(DumpOptions options, ProcFs proc, Log log, int pid, boolean root,
                                   PrevImages.Chain chain, Map<String, List<UffdKeeper>> keepers) throws CryoException {
        boolean arm = options.preDump() || options.trackMem();
        if (chain == null && !arm) {
            return none();
        }
        long start;
        try {
            start = UffdKeeper.startTime(pid);
        } catch (IOException e) {
            if (!root) {
                return none(); // exited meanwhile: the frozen tree no longer has it
            }
            throw new CryoException("cannot dump pid " + pid + ": no such process");
        }
        PrevImages prev = chain == null ? null : chain.task(pid, start);
        if (chain != null && prev == null) {
            log.info("pid %d is not in %s (born since, or its pid reused): all its pages are written", pid,
                    chain.dir().path());
        }
        String armName = arm ? MemoryTracking.best(pid, proc, log) : null;
        List<UffdKeeper> mine = keepers.getOrDefault(pid + ":" + start, List.of());
        String hashes = root ? PageHashes.FILE : PageHashes.FILE + "-" + pid;
        DirtyTracker computing = null;
        if (prev != null) {
            TrackState st = prev.state();
            if (st == null) {
                log.info("%s armed no tracker for pid %d: every page counts as written", prev.dir().path(), pid);
            } else if (st.tracker().equals("uffd-wp")
                    && UffdWpTracker.liveKeeper(st.extra(), pid, start).isEmpty()) {
                log.warn("the userfaultfd %s armed on pid %d is gone (re-armed by another dump, or its keeper ended): "
                        + "every page counts as written", prev.dir().path(), pid);
            } else if (st.tracker().equals("soft-dirty") && MemoryTracking.unavailable("soft-dirty", pid, proc) != null) {
                log.warn("%s armed soft-dirty, which this kernel lacks: every page counts as written", prev.dir().path());
            } else {
                computing = MemoryTracking.create(st.tracker(), pid, start, prev.dir().path(), st, log, mine, hashes);
            }
            log.info("pid %d: incremental dump on %s (chain of %d, tracker %s)", pid, prev.dir().path(), prev.depth(),
                    computing == null ? "none" : computing.name());
        }
        IncrementalDump dump = new IncrementalDump(log, pid, start, prev, computing, armName, root, mine);
        if (armName != null) {
            dump.arming = computing != null && computing.name().equals(armName) ? computing
                    : MemoryTracking.create(armName, pid, start, null, null, log, mine, hashes);
        }
        if (root && prev != null && !"false".equals(System.getProperty("cryo.incremental.rehearse"))) {
            dump.rehearse(proc); // the root's warms the code up for every task
        }
        return dump;
    }

    /** While frozen: which of the {@code own} pages to write, and which to leave to the parent. */
    MemoryPlan plan(TrackedTarget target, List<MapsEntry> maps, List<PageRun> own, Set<PageRun> unreadable)
            throws CryoException {
        PageRanges ownRanges = PageRanges.ofRuns(own);
        this.maps = maps;
        this.own = ownRanges;
        return plan(target, maps, own, ownRanges, unreadable, computing);
    }

    /**
     * The plan, computed without touching this dump's state. {@code tracker} answers "written since the parent";
     * null: every page counts as written. Each own run lies in one VMA (the scanner's runs do), so its pieces do too.
     */
    private MemoryPlan plan(TrackedTarget target, List<MapsEntry> maps, List<PageRun> own, PageRanges ownRanges,
                            Set<PageRun> unreadable, DirtyTracker tracker) throws CryoException {
        if (prev == null) {
            List<pagemap_entry> pm = new ArrayList<>(own.size());
            for (PageRun r : own) {
                pm.add(PageMap.entry(r.address(), r.pages(), PageMap.PE_PRESENT));
            }
            return new MemoryPlan(own, unreadable, pm, 0);
        }
        List<MapsEntry> tracked = new ArrayList<>();
        if (tracker != null) {
            for (MapsEntry m : prev.state().tracked(maps)) {
                if (DirtyTracker.trackable(m)) {
                    tracked.add(m);
                }
            }
        }
        PageRanges written = tracker == null ? PageRanges.EMPTY : tracker.written(target, ownRanges, tracked);
        PageRanges.Builder tb = PageRanges.builder();
        for (MapsEntry m : tracked) {
            tb.add(m.start(), m.end());
        }
        // what may stay in the parent where the process has a page: tracked, held by the chain, not written
        PageRanges clean = tb.build().intersect(prev.coverage()).minus(written);

        List<PageRun> present = new ArrayList<>(written.size() + 16);
        Set<PageRun> unreadablePresent = unreadable.isEmpty() ? Collections.emptySet() : new HashSet<>();
        List<pagemap_entry> pm = new ArrayList<>(2 * written.size() + own.size() + 16);
        long skipped = 0, presentPages = 0;
        int k = 0, n = clean.size();
        for (PageRun r : own) {
            long at = r.address(), end = r.end();
            boolean hidden = !unreadable.isEmpty() && unreadable.contains(r);
            while (k < n && clean.end(k) <= at) {
                k++;
            }
            while (at < end) { // invariant: clean ranges before k end at or before at
                if (k < n && clean.start(k) <= at) {
                    long e = Math.min(end, clean.end(k));
                    int pages = (int) ((e - at) >>> 12);
                    pm.add(PageMap.entry(at, pages, PageMap.PE_PARENT));
                    skipped += pages;
                    at = e;
                    if (clean.end(k) <= at) {
                        k++;
                    }
                } else {
                    long e = k < n ? Math.min(end, clean.start(k)) : end;
                    PageRun p = new PageRun(at, (int) ((e - at) >>> 12));
                    present.add(p);
                    if (hidden) {
                        unreadablePresent.add(p);
                    }
                    pm.add(PageMap.entry(at, p.pages(), PageMap.PE_PRESENT));
                    presentPages += p.pages();
                    at = e;
                }
            }
        }
        if (log != null && target != null) {
            log.info("incremental: %d pages written of %d own (%d reported written in %d tracked VMAs), %d left to the parent",
                    presentPages, ownRanges.pages(), written.pages(), tracked.size(), skipped);
        }
        return new MemoryPlan(present, unreadablePresent, pm, skipped);
    }

    /**
     * Before the freeze: the frozen window's scan and plan once on the running target (pagemap queries only, which
     * change nothing), so that their code is compiled by the time it runs frozen. A content-hash tracker is not
     * asked (that would read all memory); a failure only means a colder frozen window.
     */
    private void rehearse(ProcFs proc) {
        long t0 = System.nanoTime();
        try {
            List<MapsEntry> live = ProcFs.parseMaps(proc.mapsText(pid));
            List<PageRun> runs = new ArrayList<>();
            Set<PageRun> hidden = new HashSet<>();
            try (PageMapScanner scanner = new PageMapScanner(pid)) {
                scanner.scanAhead(live, m -> !m.isKernelSpecial() && !m.shared()); // as the frozen read does
                for (MapsEntry m : live) {
                    if (m.isKernelSpecial() || m.shared()) {
                        continue;
                    }
                    List<PageRun> o = scanner.ownPages(m);
                    runs.addAll(o);
                    if (!m.read()) {
                        hidden.addAll(o);
                    }
                }
            }
            DirtyTracker asked = computing instanceof ContentHashTracker ? null : computing;
            MemoryPlan p = plan(null, live, runs, PageRanges.ofRuns(runs), hidden, asked);
            List<com.google.protobuf.Message> image = new ArrayList<>(p.entries().size() + 1);
            image.add(pagemap_head.newBuilder().setPagesId(1).build());
            image.addAll(p.entries());
            ImageFile.of("PAGEMAP", image).toBytes(); // the writer thread encodes the same
            PageBuffer.reserveFor(PageBuffer.forRuns(p.present()).bytes());
            log.debug("incremental plan rehearsed before the freeze in %d us (%d runs)", (System.nanoTime() - t0) / 1000,
                    p.entries().size());
        } catch (IOException | CryoException | RuntimeException e) {
            log.debug("rehearsal of the incremental plan failed (only the frozen time suffers): %s", e.getMessage());
        }
    }

    /**
     * While frozen, after the memory was planned: the tracker armed (the parent link is the tree's, {@link
     * IncrementalTree#finish}). What it needs to keep
     * (the uffd-wp keeper, the hashes) and the track state are written by {@link #commit}, once the target runs.
     */
    void finish(ImageDir dir, TrackedTarget target) throws CryoException {
        if (arming == null) {
            return;
        }
        armedVmas = arming.arm(target, maps, own);
        armedDir = dir;
    }

    /**
     * After the target was released and the images written: the armed tracker's state saved (a track state
     * without it is never written, and then the next dump counts every page as written), and the earlier
     * armings ended (a final dump ends tracking altogether).
     */
    void commit() throws CryoException {
        if (!active()) {
            return;
        }
        if (armedVmas != null) {
            try {
                var extra = arming.save(armedDir.path());
                armedKeeper = extra.get("keeper");
                Set<String> keys = new LinkedHashSet<>();
                armedVmas.forEach(m -> keys.add(TrackState.key(m)));
                new TrackState(armName, pid, startTime, extra, keys).write(armedDir.path(), TrackState.file(pid, root));
            } catch (CryoException | IOException | RuntimeException e) {
                arming.abort();
                throw new CryoException("pid " + pid + " was dumped and runs on, but tracking its memory failed: "
                        + e.getMessage() + " (the next dump on " + armedDir.path() + " writes every page)", e);
            }
            arming.commit();
        }
        if (computing != null && computing != arming) {
            computing.commit();
        }
        Optional<UffdKeeper> mine = UffdKeeper.parse(armedKeeper);
        for (UffdKeeper k : keepers) {
            if (mine.isEmpty() || mine.get().pid() != k.pid()) {
                log.debug("ending uffd keeper %d of an earlier arming", k.pid());
                k.stop(pid, startTime);
            }
        }
    }

    void abort() {
        if (arming != null) {
            arming.abort();
        }
    }
}
