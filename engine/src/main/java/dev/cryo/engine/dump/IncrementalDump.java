package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.DirtyTracker;
import dev.cryo.engine.mem.PageRanges;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.TrackedTarget;
import dev.cryo.engine.mem.UffdKeeper;
import dev.cryo.engine.mem.UffdWpTracker;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.pagemap_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The incremental side of a dump: {@code --prev-images-dir} (write only pages written since the previous
 * dump, leave the rest to it), and {@code pre-dump} / {@code --track-mem} (arm a tracker for the next one).
 * {@link DumpRun} calls it at three points: {@link #prepare} before the freeze (every refusal happens there,
 * with the target untouched), {@link #plan} and {@link #finish} while frozen, {@link #commit} or
 * {@link #abort} after.
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
    private DirtyTracker arming;
    private List<MapsEntry> maps = List.of();
    private PageRanges own = PageRanges.EMPTY;
    private String armedKeeper;

    private IncrementalDump(Log log, int pid, long startTime, PrevImages prev, DirtyTracker computing, String armName) {
        this.log = log;
        this.pid = pid;
        this.startTime = startTime;
        this.prev = prev;
        this.computing = computing;
        this.armName = armName;
    }

    /** What a dump of memory saves: pages to read and write, the pagemap, and how many pages stay in the parent. */
    record MemoryPlan(List<PageRun> present, Set<PageRun> unreadable, List<pagemap_entry> entries, long skipped) {
    }

    static IncrementalDump none() {
        return new IncrementalDump(null, 0, 0, null, null, null);
    }

    boolean active() {
        return prev != null || armName != null;
    }

    static IncrementalDump prepare(DumpOptions options, ProcFs proc, Log log) throws CryoException {
        boolean arm = options.preDump() || options.trackMem();
        if (options.prevImagesDir() == null && !arm) {
            return none();
        }
        int pid = options.pid();
        long start;
        try {
            start = UffdKeeper.startTime(pid);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": no such process");
        }
        PrevImages prev = options.prevImagesDir() == null ? null
                : PrevImages.open(options.prevImagesDir(), options.imagesDir(), pid, start);
        String armName = arm ? MemoryTracking.best(pid, proc, log) : null;
        DirtyTracker computing = null;
        if (prev != null) {
            TrackState st = prev.state();
            if (st == null) {
                log.info("%s armed no tracker: every page counts as written", prev.dir().path());
            } else if (st.tracker().equals("uffd-wp")
                    && UffdWpTracker.liveKeeper(st.extra(), pid, start).isEmpty()) {
                log.warn("the userfaultfd armed by %s is gone (re-armed by another dump, or its keeper ended): "
                        + "every page counts as written", prev.dir().path());
            } else if (st.tracker().equals("soft-dirty") && MemoryTracking.unavailable("soft-dirty", pid, proc) != null) {
                log.warn("%s armed soft-dirty, which this kernel lacks: every page counts as written", prev.dir().path());
            } else {
                computing = MemoryTracking.create(st.tracker(), pid, start, prev.dir().path(), st, log);
            }
            log.info("incremental dump on %s (chain of %d, tracker %s)", prev.dir().path(), prev.depth(),
                    computing == null ? "none" : computing.name());
        }
        return new IncrementalDump(log, pid, start, prev, computing, armName);
    }

    /** While frozen: which of the {@code own} pages to write, and which to leave to the parent. */
    MemoryPlan plan(TrackedTarget target, List<MapsEntry> maps, List<PageRun> own, Set<PageRun> unreadable)
            throws CryoException {
        this.maps = maps;
        this.own = PageRanges.ofRuns(own);
        if (prev == null) {
            List<pagemap_entry> pm = new ArrayList<>(own.size());
            for (PageRun r : own) {
                pm.add(PageMap.entry(r.address(), r.pages(), PageMap.PE_PRESENT));
            }
            return new MemoryPlan(own, unreadable, pm, 0);
        }
        List<MapsEntry> tracked = new ArrayList<>();
        if (computing != null) {
            for (MapsEntry m : prev.state().tracked(maps)) {
                if (DirtyTracker.trackable(m)) {
                    tracked.add(m);
                }
            }
        }
        PageRanges written = computing == null ? PageRanges.EMPTY : computing.written(target, this.own, tracked);
        PageRanges.Builder tb = PageRanges.builder();
        tracked.forEach(m -> tb.add(m.start(), m.end()));
        PageRanges clean = this.own.intersect(tb.build()).intersect(prev.coverage()).minus(written);
        PageRanges present = this.own.minus(clean);

        List<MapsEntry> user = maps.stream().filter(m -> m.start() >= 0).toList(); // not [vsyscall], "negative" as a long
        long[] starts = user.stream().mapToLong(MapsEntry::start).toArray();
        List<PageRun> presentRuns = split(present, starts);
        List<PageRun> parentRuns = split(clean, starts);
        Set<PageRun> unreadablePresent = new HashSet<>();
        for (PageRun r : presentRuns) {
            int i = Arrays.binarySearch(starts, r.address());
            MapsEntry m = user.get(i >= 0 ? i : -i - 2);
            if (!m.read()) {
                unreadablePresent.add(r);
            }
        }
        List<pagemap_entry> pm = new ArrayList<>(presentRuns.size() + parentRuns.size());
        int i = 0, j = 0;
        while (i < presentRuns.size() || j < parentRuns.size()) {
            if (j >= parentRuns.size() || (i < presentRuns.size()
                    && presentRuns.get(i).address() < parentRuns.get(j).address())) {
                PageRun r = presentRuns.get(i++);
                pm.add(PageMap.entry(r.address(), r.pages(), PageMap.PE_PRESENT));
            } else {
                PageRun r = parentRuns.get(j++);
                pm.add(PageMap.entry(r.address(), r.pages(), PageMap.PE_PARENT));
            }
        }
        log.info("incremental: %d pages written of %d own (%d reported written in %d tracked VMAs), %d left to the parent",
                present.pages(), this.own.pages(), written.pages(), tracked.size(), clean.pages());
        return new MemoryPlan(presentRuns, unreadablePresent, pm, clean.pages());
    }

    /** Runs of {@code r}, cut at every VMA start so that no run spans two VMAs. */
    private static List<PageRun> split(PageRanges r, long[] vmaStarts) {
        List<PageRun> out = new ArrayList<>();
        for (int k = 0; k < r.size(); k++) {
            long s = r.start(k), e = r.end(k);
            int i = Arrays.binarySearch(vmaStarts, s);
            i = i >= 0 ? i + 1 : -i - 1;
            while (i < vmaStarts.length && vmaStarts[i] < e) {
                out.addAll(PageRanges.of(s, vmaStarts[i]).runs());
                s = vmaStarts[i++];
            }
            out.addAll(PageRanges.of(s, e).runs());
        }
        return out;
    }

    /** While frozen, after the images are written: the parent link, the tracker armed, its state saved. */
    void finish(ImageDir dir, TrackedTarget target) throws CryoException {
        try {
            Files.deleteIfExists(dir.resolve(TrackState.FILE));
            Files.deleteIfExists(dir.resolve(ImageDir.PARENT_LINK));
            if (prev != null) {
                dir.linkParent(prev.dir().path().toAbsolutePath());
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot link " + dir.path() + " to its parent: "
                    + e.getMessage(), e);
        }
        if (armName == null) {
            return;
        }
        arming = computing != null && computing.name().equals(armName) ? computing
                : MemoryTracking.create(armName, pid, startTime, null, null, log);
        List<MapsEntry> armed = arming.arm(target, maps, own);
        var extra = arming.save(dir.path());
        armedKeeper = extra.get("keeper");
        Set<String> keys = new LinkedHashSet<>();
        armed.forEach(m -> keys.add(TrackState.key(m)));
        try {
            new TrackState(armName, pid, startTime, extra, keys).write(dir.path());
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot write " + dir.resolve(TrackState.FILE) + ": "
                    + e.getMessage(), e);
        }
    }

    /** After the target was released: the earlier armings end (a final dump ends tracking altogether). */
    void commit() {
        if (!active()) {
            return;
        }
        if (arming != null) {
            arming.commit();
        }
        if (computing != null && computing != arming) {
            computing.commit();
        }
        Optional<UffdKeeper> mine = UffdKeeper.parse(armedKeeper);
        for (UffdKeeper k : UffdKeeper.of(pid, startTime)) {
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
