package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageMapScanner;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.resource.FdDumpContext;
import dev.cryo.engine.resource.FdKind;
import dev.cryo.engine.resource.FdKinds;
import dev.cryo.engine.resource.Timers;
import dev.cryo.engine.resource.FpuState;
import dev.cryo.engine.resource.RegularFile;
import dev.cryo.engine.resource.SharedMemory;
import dev.cryo.engine.resource.Signals;
import dev.cryo.engine.resource.SocketDump;
import dev.cryo.engine.resource.TaskResources;
import dev.cryo.engine.resource.ThreadState;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.*;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One dump of a process tree ({@code dump -t PID}: PID and all its descendants), step by step: check every task,
 * freeze them all, collect each ({@link TaskDump}: threads, memory, fds, core), write, then kill or resume them
 * all. A single process is the one-task tree. Any failure leaves every task resumed as it was. Runs on the tracer
 * thread.
 */
final class DumpRun {
    /** The dumper's own kernel-object ids in inventory.img's root_ids, as CRIU writes its own; tasks' are 2, 3... */
    static final int IDS = 1;
    static final int PAGES_ID = 1;

    private final DumpOptions options;
    private final Log log;
    private final int pid; // the root
    private final ProcFs proc = new ProcFs();

    // the tree: every task by pid, parents before children (the root first)
    private final Map<Integer, TaskDump> tasks = new LinkedHashMap<>();
    private TreeFreezer freezer;
    private FreezerCgroup freezerCgroup; // --freeze-cgroup: the tree is frozen through it first
    private ContainerDump container = ContainerDump.NONE; // a container's init: its pids and namespaces
    /** Whether the tree has a time namespace of its own, and its offsets (see TimeNamespace). */
    private boolean ownTimeNs;
    private dev.cryo.engine.resource.TimeNamespace.Offsets timeOffsets = dev.cryo.engine.resource.TimeNamespace.Offsets.NONE;
    /** The id of a tree's own time namespace in its ids images: not root_ids' (Cryo's own are 1..8). */
    static final int OWN_TIME_NS_ID = 9;
    /** The tasks' cgroup sets (cgroup.img), read while they are frozen; null in a pre-dump. */
    private dev.cryo.engine.resource.Cgroups.Dump cgroups;

    // what the dump found
    private final FileTable files = new FileTable();
    private long freezingUs, frozenUs, memdumpUs, memwriteUs;
    private final SharedMemory.Dump shmem;
    private int nextPagesId;

    private final boolean rehearsal;
    /** The caller's stops (CRIU's action scripts, RPC notifications); none from the command line. */
    private dev.cryo.engine.ActionScripts scripts = dev.cryo.engine.ActionScripts.NONE;

    DumpRun withScripts(dev.cryo.engine.ActionScripts scripts) {
        this.scripts = scripts;
        return this;
    }

    DumpRun(DumpOptions options, Log log) {
        this(options, log, false);
    }

    /** @param rehearsal a dump of Cryo's own helper that only warms the JVM up */
    DumpRun(DumpOptions options, Log log, boolean rehearsal) {
        this.rehearsal = rehearsal;
        this.options = options;
        this.log = log;
        this.pid = options.pid();
        this.shmem = new SharedMemory.Dump(log).register(pid);
    }

    private FdDumpContext fdCtx; // the root's; every task's shares its pipe data and task set
    private long releasedAt;
    private IncrementalTree incremental = IncrementalTree.none();

    void run() throws CryoException {
        try {
            runSteps();
        } catch (CryoException | RuntimeException e) {
            if (!killed) {
                refreezeQuietly(); // a failure outside the frozen window: the owner's frozen cgroup as it was
            }
            if (fdCtx != null && !killed) {
                fdCtx.deleted().undo(log); // the link remaps it made
            }
            if (dirForWriter != null && !killed) {
                dirForWriter.abandonDump(); // marked incomplete (see ImageDir.beginDump), its partial images gone
            } else if (dirForWriter != null) {
                dirForWriter.keepWithoutManifest(); // the target is gone: its images are all there is of it
            }
            throw e;
        } finally {
            if (fdCtx != null) {
                // a failure before the frozen window's own release: the run's sockets are let go (a no-op after it)
                SocketDump.release(fdCtx, false);
            }
            tasks.values().forEach(TaskDump::closeKernelView);
            if (coresRoom != null) {
                coresRoom.close(); // a dump that failed: no room held, no file left
            }
            if (!rehearsal) {
                PageBuffer.releaseSpare(); // reserved for this dump's pages, and not taken
            }
            writers.shutdown();
            if (tracers != null) {
                tracers.close();
            }
        }
    }

    /**
     * A tree dumped in full is spread over several tracer threads, each freezing and reading its share of the tasks
     * at once; null: this thread traces every task (a single process, and incremental dumps, whose tracking runs
     * syscalls in the tasks from the dump's thread).
     */
    private dev.cryo.engine.ptrace.TracerPool tracers;

    /** Tracer threads for a tree: a few per core, for much of a task's reading is waiting for it to stop. */
    private dev.cryo.engine.ptrace.TracerPool tracersFor(int taskCount) {
        if (taskCount < 2 || rehearsal || options.preDump() || options.trackMem() || options.prevImagesDir() != null) {
            return null;
        }
        int size = Math.min(taskCount, Math.min(8, 2 * Runtime.getRuntime().availableProcessors()));
        return new dev.cryo.engine.ptrace.TracerPool(size, () -> {
            Ptrace.prepareThread();
            RemoteMemory.prepareThread();
            TaskResources.prepareThread();
            ThreadState.prepareThread();
        });
    }

    private TaskDump root() {
        return tasks.get(pid);
    }

    private TaskDump newTask(dev.cryo.engine.tree.TreeTask t) {
        return new TaskDump(t, tasks.size() + 1, options, log, proc, files, shmem,
                t.pid() == pid ? fdCtx : fdCtx.forTask(t.pid()));
    }

    private void runSteps() throws CryoException {
        fdCtx = new FdDumpContext(pid, proc, options, log);
        dev.cryo.engine.resource.SocketDump.onInFlight(fdCtx, files::inFlight);
        log.info("Dumping pid %d to %s", pid, options.imagesDir());
        Warmup.Rehearsal warm = rehearsal ? Warmup.Rehearsal.NONE : Warmup.start(log, pid);
        ImageDir dir;
        try {
            container = ContainerDump.of(options);
            if (container.ownIpc()) {
                shmem.sysvDumpedWithNamespace(); // every SysV object of the container's ipc namespace, with it
            }
            if (options.freezeCgroup() != null) {
                freezerCgroup = FreezerCgroup.open(options.freezeCgroup(), pid,
                        options.timeout() == null ? java.time.Duration.ofSeconds(10) : options.timeout(), log);
            }
            for (dev.cryo.engine.tree.TreeTask t : TargetCheck.requireDumpable(pid, proc, fdCtx)) {
                tasks.put(t.pid(), newTask(t));
            }
            container.requireOneNamespace(tasks.keySet());
            try {
                // read now: the dump may kill the tree before it writes timens-0.img
                ownTimeNs = dev.cryo.engine.resource.TimeNamespace.own(pid);
                if (ownTimeNs) {
                    timeOffsets = dev.cryo.engine.resource.TimeNamespace.offsets(pid);
                }
            } catch (java.io.IOException | RuntimeException e) {
                throw new CryoException("cannot dump pid " + pid + ": cannot read its time namespace's offsets (/proc/"
                        + pid + "/timens_offsets): " + e.getMessage());
            }
            if (ownTimeNs) {
                log.info("pid %d lives in a time namespace of its own: monotonic offset %d ns, boottime offset %d ns",
                        pid, timeOffsets.monotonicNanos(), timeOffsets.boottimeNanos());
            }
            if (tasks.size() > 1) {
                log.info("the tree of pid %d: %d tasks %s", pid, tasks.size(), tasks.keySet());
            }
            if (!rehearsal) {
                // each task's parent images and tracker; refuses before the tree is touched
                List<Integer> live = new ArrayList<>();
                tasks.values().stream().filter(t -> !t.zombie()).forEach(t -> live.add(t.pid()));
                incremental = IncrementalTree.prepare(options, proc, log, live, container::innerKnown);
                if (incremental.active()) {
                    shmem.chained(incremental.parent()); // in every dump of a chain, unchanged pages left to the parent
                }
            }
            try {
                dir = ImageDir.create(options.imagesDir(), DirectFiles.IMAGES);
                String mode = dir.beginDump();
                dirForWriter = dir;
                fdCtx.dir().set(dir);
                if (mode != null) {
                    log.info("%s", mode);
                }
            } catch (IOException e) {
                String file = e instanceof java.nio.file.FileSystemException f && f.getFile() != null
                        ? f.getFile() + ": " : "";
                throw new CryoException("cannot dump pid " + pid + ": cannot write images in " + options.imagesDir()
                        + ": " + file + CryoException.reason(e));
            }
        } finally {
            warm.await(); // its helper is gone before anything else happens, refusal or not
        }
        if (!rehearsal) {
            step("warm up", () -> { }); // a named step for fault injection, as before
        }
        long p0 = System.nanoTime();
        // the page buffers each writer reads into, populated now rather than faulted in while the tree is frozen
        dev.cryo.engine.mem.PageBuffer.prepare(Math.min(tasks.size(), WRITERS));
        if (tasks.size() == 1 && !options.preDump() && !incremental.active() && !root().zombie()) {
            try {
                // a process of a few MiB to 64: its pages read in one go into memory faulted in now
                dev.cryo.engine.mem.PageBuffer.reserveForDump(proc.anonResident(pid));
            } catch (IOException | RuntimeException e) {
                // gone, or statm unreadable: the freeze says which; the pages stream as before
            }
        }
        if (tasks.size() > 1) {
            // a tree's maps read on the writers, idle until the freeze; the VMA entries then in tree order
            List<java.util.concurrent.Future<?>> reads = new ArrayList<>(tasks.size());
            for (TaskDump t : tasks.values()) {
                reads.add(writers.submit(t::readMapsAhead));
            }
            for (java.util.concurrent.Future<?> f : reads) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    // readMapsAhead keeps what it met for previewMaps
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        long p1 = System.nanoTime();
        for (TaskDump t : tasks.values()) {
            t.previewMaps();
        }
        long p2 = System.nanoTime();
        writeStaticImages(dir);
        tracers = tracersFor(tasks.size()); // their threads and buffers made now, before the freeze
        log.debug("maps read in %d us, their VMA entries made in %d us, static images and tracers in %d us",
                (p1 - p0) / 1000, (p2 - p1) / 1000, (System.nanoTime() - p2) / 1000);
        Ptrace.prepareThread(); // buffers the frozen window uses, made now
        RemoteMemory.prepareThread();
        TaskResources.prepareThread();
        ThreadState.prepareThread();
        log.hold(); // lines logged while the target is frozen are formatted and written once it runs again (or is gone)
        try {
            frozenWindow(dir);
        } finally {
            log.release();
        }
        incremental.commit();
        shmem.sumPages(dir); // the shared objects' pages images into the manifest, off the frozen window
        frozenUs = (releasedAt - frozenAt) / 1000;
        log.info("Target was frozen for %d us", frozenUs);
        long scanned = 0, written = 0, skipped = 0;
        for (TaskDump t : tasks.values()) {
            scanned += t.pagesScanned;
            written += t.pagesWritten;
            skipped += t.pagesSkippedParent;
        }
        try {
            dir.writeDumpStats(stats_entry.newBuilder().setDump(dump_stats_entry.newBuilder()
                    .setFreezingTime((int) freezingUs).setFrozenTime((int) frozenUs)
                    .setMemdumpTime((int) memdumpUs).setMemwriteTime((int) memwriteUs)
                    .setPagesScanned(scanned).setPagesSkippedParent(skipped).setPagesWritten(written)
                    .setPagesLazy(0).setShpagesScanned(shmem.pagesScanned()).setShpagesSkippedParent(shmem.pagesInParent())
                    .setShpagesWritten(shmem.pagesWritten())).build());
            dir.commitDump();
        } catch (IOException e) {
            throw new CryoException("dump of pid " + pid + " done, but stats-dump or " + dev.cryo.image.ImageChecksums.FILE
                    + " could not be written: " + e.getMessage());
        }
        log.info("Dumping finished successfully");
    }

    private long frozenAt;

    /**
     * Room for the cores, which a dump that kills its tree writes after the kill (null: none needed, or not yet
     * taken): taken in the frozen window once every other image is written, given back right before the cores are.
     */
    private SpaceReserve coresRoom;

    private long coresBound() {
        long bytes = SpaceReserve.SLACK;
        for (TaskDump t : tasks.values()) {
            if (!t.zombie()) {
                bytes += t.coreBytesBound();
            }
        }
        return bytes;
    }

    /** Freeze, collect, write, then kill or resume: everything between the freeze and the tree's release. */
    private void frozenWindow(ImageDir dir) throws CryoException {
        if (!options.preDump()) {
            scripts.run("pre-dump");
        }
        // a tree its owner froze by cgroup (containerd pauses a container before runc's checkpoint) never reaches a
        // ptrace stop: thawed for the freeze, frozen again before it is let go (FrozenCgroup); looked up before the
        // freeze's clock starts
        // (with --freeze-cgroup, that cgroup's freeze takes a frozen one as it is, and leaves it frozen)
        frozenCgroup = freezerCgroup != null ? null : FrozenCgroup.thawIfFrozen(proc.dir(pid).getParent(), pid, log);
        long t0 = System.nanoTime();
        step("freeze", this::freeze);
        long t1 = System.nanoTime();
        frozenAt = t1;
        freezingUs = (t1 - t0) / 1000;
        log.info("Frozen pid %d (a tree of %d tasks) in %d us", pid, tasks.size(), freezingUs);
        try {
            if (!options.preDump()) {
                scripts.run("network-lock");
            }
            List<TaskDump.Images> images = new ArrayList<>();
            step("collect", () -> images.addAll(collect()));
            boolean late = options.preDump() && incremental.pagesAfterResume(); // tracking covers what runs on
            if (!late) {
                step("write images", () -> writeImages(dir, images));
            }
            if (incremental.active()) {
                step("track memory", () -> incremental.finish(dir, tasks.values()));
            }
            boolean stopped = options.leaveStopped() && !options.preDump(); // -s: stopped once detached
            boolean keepRunning = options.leaveRunning() || options.preDump() || stopped;
            // cores are built from raw state once the tree runs again, unless a caller's post-dump stop (a container
            // runtime's hook) may look at the images before that: it gets them whole
            boolean coresLate = scripts == dev.cryo.engine.ActionScripts.NONE;
            if (!options.preDump() && !coresLate) {
                writeCores(dir, images);
            }
            if (!options.preDump()) {
                scripts.run("post-dump");
            }
            if (!keepRunning && coresLate && !rehearsal) {
                try {
                    // the last images that could fail for want of room, written after the kill: their room first
                    coresRoom = SpaceReserve.take(dir.path(), coresBound());
                } catch (IOException e) {
                    throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                            + e.getMessage());
                }
            }
            step(keepRunning ? "resume" : "kill", () -> {
                fdCtx.ttys().release(keepRunning); // the ptys' queued bytes go back while the tree is still frozen
                if (keepRunning) {
                    if (stopped) {
                        for (TaskDump t : tasks.values()) {
                            if (!t.zombie() && Syscall.raw(Syscall.KILL, t.pid(), WaitStatus.SIGSTOP) < 0) {
                                throw new CryoException("cannot leave pid " + t.pid() + " stopped (-s): kill(SIGSTOP) failed");
                            }
                        }
                    }
                    // repair mode off (and the lock gone, with -R) before any task runs: a task of the tree would
                    // otherwise send on a socket still in repair mode and fail (EINVAL)
                    SocketDump.release(fdCtx, true);
                    resume();
                } else {
                    kill();
                }
            });
            if (late) {
                step("write images", () -> writeImages(dir, images));
            }
            if (!options.preDump() && coresLate) {
                if (coresRoom != null) {
                    coresRoom.close(); // its room, for the cores
                }
                writeCores(dir, images); // from what the frozen window read: nothing of the tree is needed any more
            }
            SocketDump.release(fdCtx, true);
            if (options.leaveRunning()) {
                fdCtx.deleted().undo(log); // as CRIU: a tree that runs on keeps its file system as it was
            }
            if (options.leaveRunning() && !options.preDump()) {
                scripts.run("network-unlock");
            }
        } catch (CryoException | RuntimeException e) {
            log.error("%s", e.getMessage());
            SocketDump.release(fdCtx, false);
            if (fdCtx != null) {
                fdCtx.ttys().release(true); // bytes read from the ptys go back before any task runs
            }
            incremental.abort();
            resumeQuietly();
            if (!options.preDump()) {
                scripts.runQuietly("network-unlock");
            }
            awaitWritersQuietly(); // nothing is written into the images dir after the dump reports its failure
            throw e;
        }
    }

    /**
     * Freezes every task of the tree; a task born meanwhile is frozen too and joins it. The tree is then read
     * again: its ids are final, and a task that exited since the check is a zombie now, or gone.
     */
    private void freeze() throws CryoException {
        Map<Integer, dev.cryo.engine.tree.TreeTask> before = new LinkedHashMap<>();
        for (TaskDump t : tasks.values()) {
            before.put(t.pid(), t.task());
        }
        freezer = new TreeFreezer(proc, Ptrace.O_TRACESYSGOOD).withTimeout(options.timeout());
        if (tracers != null) {
            freezer.withTracers(tracers::assign);
        }
        if (freezerCgroup != null) {
            freezer.withCgroup(freezerCgroup, log);
        }
        Map<Integer, List<Integer>> frozen;
        try {
            frozen = Tracers.freezing(proc, pid, before.keySet(), () -> freezer.freeze(pid));
        } catch (dev.cryo.engine.ptrace.StuckThread e) {
            refreezeQuietly();
            throw new CryoException("cannot dump pid " + pid + ": " + (e.signal() != null ? "" : "cannot freeze it: ")
                    + e.getMessage() + "; nothing was changed, pid " + pid + " was let go as it was and runs on");
        } catch (SyscallException e) {
            refreezeQuietly(); // the freezer let go of what it froze: the tree is back as it was, frozen by its owner
            throw new CryoException("cannot dump pid " + pid + ": cannot freeze it: " + e.getMessage()
                    + (e.errno() == 1 ? " (is it traced by another process, or does Cryo lack CAP_SYS_PTRACE?)" : ""));
        } catch (CryoException | RuntimeException e) {
            refreezeQuietly();
            throw e;
        }
        try {
            adoptFrozen(before, frozen);
        } catch (CryoException | RuntimeException e) {
            resumeQuietly(); // every task frozen so far goes on as it was
            throw e;
        }
    }

    /** The tree read again once frozen: each task's TaskDump gets its frozen threads and its final ids. */
    private void adoptFrozen(Map<Integer, dev.cryo.engine.tree.TreeTask> before, Map<Integer, List<Integer>> frozen)
            throws CryoException {
        List<dev.cryo.engine.tree.TreeTask> now = ProcessTree.read(proc, pid); // frozen: ids and children are final
        Map<Integer, TaskDump> byPid = new LinkedHashMap<>(tasks);
        tasks.clear();
        for (dev.cryo.engine.tree.TreeTask t : now) {
            List<Integer> tids = frozen.get(t.pid());
            dev.cryo.engine.tree.TreeTask known = before.get(t.pid());
            dev.cryo.engine.tree.TreeTask state;
            if (tids == null) {
                if (t.state() != TaskState.DEAD) {
                    throw new TreeChanging("cannot dump pid " + pid + ": process " + t.pid() + " of its tree was "
                            + "not frozen (it was born or changed while the tree was frozen); try again");
                }
                state = t;
            } else if (known != null && known.state() == TaskState.STOPPED) {
                // frozen, /proc says traced ('t'): the state it had before the freeze decides
                state = new dev.cryo.engine.tree.TreeTask(t.pid(), t.ppid(), t.pgid(), t.sid(), tids,
                        TaskState.STOPPED, 0, known.stopSignal() != 0 ? known.stopSignal() : WaitStatus.SIGSTOP,
                        t.subreaper());
            } else {
                state = new dev.cryo.engine.tree.TreeTask(t.pid(), t.ppid(), t.pgid(), t.sid(), tids,
                        TaskState.ALIVE, 0, 0, t.subreaper());
            }
            TaskDump d = byPid.remove(t.pid());
            if (d == null) {
                d = newTask(state); // born during the freeze
                log.info("pid %d joined the tree while it was frozen", t.pid());
            }
            tasks.put(t.pid(), d);
            if (tids != null) {
                d.tracedBy(tracers == null ? null : tracers.of(t.pid()));
                d.frozen(tids, state);
            } else {
                d.dead(state);
            }
        }
        fdCtx.tasks().set(tasks.keySet());
        incremental.retain(tasks.keySet());
        for (TaskDump d : tasks.values()) {
            if (!d.zombie()) {
                d.incremental = incremental.of(d.pid()); // a task born during the freeze: in full, tracked from now
            }
        }
        if (frozen.size() != tasks.values().stream().filter(t -> !t.zombie()).count()) {
            throw new TreeChanging("cannot dump pid " + pid + ": the tree changed while it was frozen (frozen "
                    + frozen.keySet() + ", the tree " + tasks.keySet() + "); try again");
        }
        if (tasks.size() > 1) {
            int[] vm = TargetCheck.sharingPair(now.stream().filter(t -> t.state() != TaskState.DEAD).toList(),
                    TargetCheck.KCMP_VM);
            if (vm != null) {
                throw new TreeChanging("cannot dump pid " + pid + ": processes " + vm[0] + " and " + vm[1] + " of its "
                        + "tree were frozen sharing their memory, a vfork child before its exec; the tree was let go "
                        + "as it was");
            }
            TargetCheck.requireNothingSharedBetweenProcesses(now, false); // memory: just above
        }
    }

    interface Step {
        void run() throws CryoException;
    }

    /** Names a step for the log and for fault injection ({@code -Dcryo.fault.step=NAME} fails it, for tests). */
    private void step(String name, Step s) throws CryoException {
        log.debug("step %s", name);
        // Faults are for the user's target only: a rehearsal that met them would fail (or hang) on Cryo's own helper
        // and a test meant to fault the real dump would never reach it.
        if (!rehearsal && name.equals(System.getProperty("cryo.fault.step"))) {
            throw new CryoException("cannot dump pid " + pid + ": fault injected at step '" + name + "'");
        }
        String stop = rehearsal ? dev.cryo.engine.sys.StopSignals.received() : dev.cryo.engine.sys.StopSignals.at(name);
        if (stop != null && !killed) { // once killed, the images are all that is left of the target: finish them
            throw new CryoException("cannot dump pid " + pid + ": Cryo was stopped by " + stop + " before step '" + name
                    + "'; pid " + pid + " was put back as it was and runs on");
        }
        s.run();
    }

    /**
     * Every task in tree order (its remote syscalls on this, the tracer thread), then what tasks share: shared
     * memory once, socket queues naming passed fds by file id.
     */
    private List<TaskDump.Images> collect() throws CryoException {
        List<TaskDump.Images> out = new ArrayList<>(tasks.size());
        nextPagesId = tasks.size() + 1; // a task's pages id is its number; shared objects' come after
        long m0 = System.nanoTime();
        // each task's own state read by its tracer, all tracers at once; the shared tables then in tree order, each
        // task's as soon as its own state is in, and its memory to a writer right after
        Map<TaskDump, java.util.concurrent.Future<Object>> own = new LinkedHashMap<>();
        if (tracers != null) {
            for (TaskDump t : tasks.values()) {
                if (!t.zombie()) {
                    own.put(t, t.onTracerLater(() -> {
                        t.readOwn();
                        return null;
                    }));
                }
            }
        }
        List<java.util.concurrent.Future<Object>> threadsLeft = new ArrayList<>();
        try {
            for (TaskDump t : tasks.values()) {
                if (own.containsKey(t)) {
                    dev.cryo.engine.ptrace.Tracer.await(own.get(t));
                }
                TaskDump.Images img = t.zombie() ? t.zombieImages() : t.collect();
                out.add(img);
                if (img.memory() != null && !options.preDump()) {
                    submitMemoryImages(img); // a writer reads and saves them while the next task is collected
                }
                if (t.threadsLeft()) { // a many-threaded task's threads, read while the writer copies its pages
                    if (tracers == null) {
                        t.readThreadsLeft();
                    } else {
                        threadsLeft.add(t.onTracerLater(() -> {
                            t.readThreadsLeft();
                            return null;
                        }));
                    }
                }
            }
            for (java.util.concurrent.Future<Object> f : threadsLeft) {
                dev.cryo.engine.ptrace.Tracer.await(f);
            }
        } finally {
            own.values().forEach(f -> f.cancel(false)); // after a failure: what has not started never does
            threadsLeft.forEach(f -> f.cancel(false));
        }
        log.debug("tasks collected in %d us (%d tracer threads)", (System.nanoTime() - m0) / 1000,
                tracers == null ? 1 : tracers.size());
        memdumpUs = (System.nanoTime() - m0) / 1000;
        if (options.preDump()) {
            // shared objects' pages, once each, while every task that maps them is frozen
            shmem.writeImages(dirForWriter, () -> nextPagesId++, true);
        } else {
            // shared objects, once each, while every task that maps them is frozen
            shmem.writeImages(dirForWriter, () -> nextPagesId++);
            SocketDump.collected(fdCtx, (p, fd) -> tasks.get(p).idOfFd.get(fd), files.entries());
        }
        return out;
    }

    private void writeImages(ImageDir dir, List<TaskDump.Images> images) throws CryoException {
        try {
            long w0 = System.nanoTime();
            if (options.preDump()) {
                for (TaskDump.Images img : images) {
                    if (img.memory() != null) {
                        writeMemoryImages(dir, img);
                    }
                }
            }
            List<pstree_entry> pstree = new ArrayList<>(images.size());
            for (TaskDump.Images img : images) {
                pstree.add(container.pstree(img.pstree()));
            }
            dir.writePstree(pstree);
            if (!options.preDump()) {
                for (TaskDump.Images img : images) {
                    TaskDump t = img.task();
                    if (t.zombie()) {
                        continue; // a zombie has its core and its place in pstree.img, nothing else
                    }
                    task_kobj_ids_entry ids = container.ids(t.pid(), t.ids());
                    if (ownTimeNs) {
                        ids = ids.toBuilder().setTimeNsId(OWN_TIME_NS_ID).build(); // not root_ids': a restore makes one
                    }
                    dir.writeIds(container.inner(t.pid()), ids);
                    dir.writeFdinfo(t.ids().getFilesId(), img.fdinfo());
                    dir.writeFs(container.inner(t.pid()), img.fs());
                }
                if (!fdCtx.pipesData().isEmpty()) {
                    dir.writePipesData(fdCtx.pipesData());
                }
                // as the tree sees them; a namespace of the tree's own is named by its id, as CRIU names it (CRIU's
                // restore reads timens-ID.img for a task whose time namespace is not the dumper's)
                dir.writeTimens(ownTimeNs ? OWN_TIME_NS_ID : 0,
                        dev.cryo.engine.resource.TimeNamespace.entry(timeOffsets));
                cgroups = new dev.cryo.engine.resource.Cgroups.Dump(); // Cryo's own cgroups are set 1
                for (TaskDump t : tasks.values()) {
                    cgroups.note(t.pid());
                }
                cgroups.write(dir);
                container.writeImages(dir, log);
                fdCtx.writeImages(dir, files.entries()); // ghosts, link remaps, file locks, FIFOs
            }
            dir.writeFiles(files.entries());
            awaitWriters();
            memwriteUs = Math.max(memwriteUs, (System.nanoTime() - w0) / 1000);
            log.debug("images written");
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                    + e.getMessage(), e);
        }
    }

    /** Every task's core-TID.img, built from the state its threads had while frozen. */
    private void writeCores(ImageDir dir, List<TaskDump.Images> images) throws CryoException {
        long c0 = System.nanoTime();
        int n = 0;
        try {
            dev.cryo.engine.resource.Seccomp.Dump filters = new dev.cryo.engine.resource.Seccomp.Dump();
            for (TaskDump.Images img : images) {
                for (Map.Entry<Integer, core_entry> c : img.cores().build().entrySet()) {
                    core_entry core = filters.into(c.getValue(), img.task().seccomp().get(c.getKey()));
                    int cgSet = cgroups == null ? 0 : cgroups.setOf(c.getKey()); // the task's (its leader's tid)
                    if (cgSet != 0 && core.hasTc()) {
                        core = core.toBuilder().setTc(core.getTc().toBuilder().setCgSet(cgSet)).build();
                    }
                    dir.writeCore(container.inner(c.getKey()), core);
                    n++;
                }
            }
            if (!filters.isEmpty()) {
                dir.writeSeccomp(filters.entry()); // the empty one written before the freeze, now with the filters
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                    + e.getMessage(), e);
        }
        log.debug("%d cores written in %d us", n, (System.nanoTime() - c0) / 1000);
    }

    /**
     * Writers of memory images: a task's pages, mm and pagemap are final once it is collected, and a large buffer
     * is read from the frozen task while it is written, so a writer per core copies while the tracer thread goes
     * on with the next task.
     */
    private static final int WRITERS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    private final java.util.concurrent.ExecutorService writers = java.util.concurrent.Executors.newFixedThreadPool(
            WRITERS, r -> {
                Thread t = new Thread(r, "cryo-image-writer");
                t.setDaemon(true);
                return t;
            });
    private final List<java.util.concurrent.Future<?>> memoryImages = new ArrayList<>();
    private ImageDir dirForWriter;

    private void submitMemoryImages(TaskDump.Images img) {
        memoryImages.add(writers.submit(() -> {
            img.memory().onThreadBuffer(); // written by this thread right away: its buffer serves the next task
            img.memory().read();
            writeMemoryImages(dirForWriter, img);
            return null;
        }));
    }

    private void awaitWriters() throws IOException, CryoException {
        for (java.util.concurrent.Future<?> f : memoryImages) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CryoException("cannot dump pid " + pid + ": interrupted while its pages were written");
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof IOException io) {
                    throw io;
                }
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw new IllegalStateException(e.getCause());
            }
        }
        memoryImages.clear();
    }

    private void awaitWritersQuietly() {
        for (java.util.concurrent.Future<?> f : memoryImages) {
            try {
                f.get();
            } catch (InterruptedException | java.util.concurrent.ExecutionException ignored) {
                // the dump has failed already; this is only its leftover
            }
        }
    }

    /**
     * Before the freeze: the images that hold nothing of the target's state: inventory (the root's ids) always,
     * for a full dump also seccomp (empty; {@link #writeCores} writes it again when a thread has filters).
     * A dump that fails later leaves them beside whatever else it wrote, as CRIU leaves its partial images.
     */
    /**
     * inventory's network_lock_method, as CRIU numbers them (iptables 0, nftables 1, skip 2): what a restore must lift.
     * CRIU's restore lifts the iptables rules of {@code --network-lock iptables} itself.
     */
    static int lockMethod(String networkLock) {
        return switch (networkLock == null ? "nftables" : networkLock) {
            case "iptables" -> 0;
            case "skip" -> 2;
            default -> 1;
        };
    }

    private void writeStaticImages(ImageDir dir) throws CryoException {
        try {
            dir.writeInventory(inventory_entry.newBuilder().setImgVersion(2).setFdinfoPerId(true)
                    .setRootIds(TaskResources.ids(IDS)).setNsPerId(true).setRootCgSet(1).setLsmtype(lsmtype.NO_LSM)
                    .setNetworkLockMethod(lockMethod(options.networkLock())).setDumpCriuRunId(RunId.next()).build());
            if (!options.preDump()) {
                dir.writeSeccomp(seccomp_entry.newBuilder().build());
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                    + e.getMessage(), e);
        }
    }

    /** A task's pages-N, mm-PID and pagemap-PID: everything that is known once its memory is read. */
    private void writeMemoryImages(ImageDir dir, TaskDump.Images img) throws IOException {
        long w0 = System.nanoTime();
        PageBuffer pages = img.memory().pages();
        int pagesId = img.memory().pagemap().pagesId();
        pages.writeTo(dir.pagesPath(pagesId), dir.checksumSink(dir.pagesPath(pagesId).getFileName().toString()));
        long w1 = System.nanoTime();
        int p = container.innerKnown(img.task().pid());
        dir.writeMm(p, img.memory().withGuards(img.mm()));
        dir.writePagemap(p, img.memory().pagemap());
        synchronized (this) {
            if (pages.streamed()) {
                // read and written at once: each side's own time (they overlap)
                memdumpUs += pages.streamedRemoteNanos() / 1000;
                memwriteUs += pages.streamedFileNanos() / 1000;
            } else {
                memwriteUs += (w1 - w0) / 1000;
            }
        }
        log.debug("pid %d: memory images: pages %d us%s, mm and pagemap (%d entries) %d us", p, (w1 - w0) / 1000,
                pages.streamRoute() == null ? "" : " (" + pages.streamRoute() + ")",
                img.memory().pagemap().entries().size(), (System.nanoTime() - w1) / 1000);
    }

    /** Puts every task back as it was and lets it run on: children first, so no parent runs before its tree. */
    private void resume() throws CryoException {
        CryoException failed = null;
        List<TaskDump> all = new ArrayList<>(tasks.values());
        List<TaskDump> stoppedFirst = new ArrayList<>();
        if (frozenCgroup != null || freezerCgroup != null && freezerCgroup.owesFreeze()) {
            // frozen before the dump: frozen again while every task is held, so each stays as it was once let go;
            // the scratch pages go first, for a frozen task runs no remote syscall (a failure is its resume's)
            for (TaskDump t : all) {
                try {
                    t.onTracer(() -> {
                        try {
                            t.releaseScratch();
                        } catch (SyscallException e) {
                            throw new CryoException(e.getMessage(), e);
                        }
                        return null;
                    });
                } catch (CryoException | RuntimeException e) {
                    log.debug("pid %d: scratch page left to its resume: %s", t.pid(), e.getMessage());
                }
            }
            // a stopped task is let go before the cgroup is frozen again, and frozen back in its stop: let go while
            // frozen, it would be woken only by the thaw, and show as running until it is back in its stop (it runs
            // nothing of its own on the way: the kernel takes it straight back into the group stop)
            for (int i = all.size() - 1; i >= 0; i--) {
                TaskDump t = all.get(i);
                if (!t.zombie() && t.task().state() == dev.cryo.engine.tree.TaskState.STOPPED && t.isFrozen()) {
                    failed = resumeOne(t, failed);
                    stoppedFirst.add(t);
                }
            }
            long deadline = System.nanoTime() + 1_000_000_000L;
            for (TaskDump t : stoppedFirst) {
                while (!groupStoppedAgain(t.pid()) && System.nanoTime() < deadline) {
                    java.util.concurrent.locks.LockSupport.parkNanos(100_000);
                }
            }
        }
        refreezeQuietly(); // frozen by its owner before the dump: frozen again before any task is let go
        if (freezerCgroup != null) {
            freezerCgroup.refreeze(); // the same for --freeze-cgroup's (nothing unless it was frozen before)
        }
        for (int i = all.size() - 1; i >= 0; i--) {
            if (!stoppedFirst.contains(all.get(i))) {
                failed = resumeOne(all.get(i), failed);
            }
        }
        if (freezer != null) {
            freezer.release(); // any task frozen that the tree no longer lists (none, unless it changed)
        }
        releasedAt = System.nanoTime();
        if (failed != null) {
            throw failed;
        }
        log.info("Resumed the tree of pid %d (%d tasks)", pid, tasks.size());
    }

    /** Lets one task go ({@link TaskDump#resume}); the first failure of the resume is kept, the others logged. */
    private CryoException resumeOne(TaskDump t, CryoException failed) {
        CryoException e = null;
        try {
            boolean own = t.isFrozen(); // its threads are those the freezer froze for it
            t.onTracer(() -> {
                t.resume();
                return null;
            });
            if (own && freezer != null) {
                freezer.released(t.pid()); // detached, every thread: nothing left for the freezer to let go
            }
        } catch (CryoException x) {
            e = x;
        } catch (RuntimeException x) {
            e = new CryoException("pid " + t.pid() + " could not be resumed after the dump: " + x, x);
        }
        if (e != null && failed != null) {
            log.error("%s", e.getMessage());
        }
        return failed != null ? failed : e;
    }

    /** Whether the task is back in its group stop ('T'), or gone. */
    private boolean groupStoppedAgain(int p) {
        try {
            return proc.stat(p).state() == 'T';
        } catch (IOException e) {
            return true;
        }
    }

    /** The cgroup freezer the owner had frozen the tree in, thawed for the ptrace freeze; null once frozen again. */
    private FrozenCgroup frozenCgroup;

    private void refreezeQuietly() {
        FrozenCgroup c = frozenCgroup;
        frozenCgroup = null;
        if (c != null) {
            try {
                c.refreeze(log);
            } catch (CryoException e) {
                log.error("%s", e.getMessage());
            }
        }
    }

    private void resumeQuietly() {
        try {
            resume();
        } catch (CryoException e) {
            log.error("%s", e.getMessage());
        }
    }

    private boolean killed;

    /** SIGKILL to every task, as CRIU's dump ends without -R; each is reaped by its tracer (us). */
    private void kill() throws CryoException {
        for (TaskDump t : tasks.values()) {
            if (!t.zombie()) {
                Syscall.raw(Syscall.KILL, t.pid(), WaitStatus.SIGKILL);
            }
        }
        releasedAt = System.nanoTime();
        killed = true;
        // children first: a pid namespace's init (a container's) exits only once every task of its namespace is
        // reaped, and its traced children are released by their tracers' waits, not by its own
        List<TaskDump> order = new ArrayList<>(tasks.values());
        java.util.Collections.reverse(order);
        for (TaskDump t : order) {
            t.onTracer(() -> {
                try {
                    t.reapKilled();
                } catch (SyscallException e) {
                    throw new CryoException("cannot kill pid " + t.pid() + " after the dump: " + e.getMessage(), e);
                }
                return null;
            });
        }
        if (freezer != null) {
            freezer.frozen().clear(); // gone: nothing to let go
        }
        log.info("Killed the tree of pid %d (%d tasks)", pid, tasks.size());
    }
}
