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
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.Trampolines;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.resource.FdDumpContext;
import dev.cryo.engine.resource.FdKind;
import dev.cryo.engine.resource.FdKinds;
import dev.cryo.engine.resource.RegularFile;
import dev.cryo.engine.resource.SharedMemory;
import dev.cryo.engine.resource.Signals;
import dev.cryo.engine.resource.TaskResources;
import dev.cryo.engine.resource.FileOwner;
import dev.cryo.engine.resource.ThreadState;
import dev.cryo.engine.resource.Timers;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.engine.tree.TreeTask;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.fs_entry;
import dev.cryo.image.proto.mm_entry;
import dev.cryo.image.proto.pagemap_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.sa_entry;
import dev.cryo.image.proto.task_core_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;
import dev.cryo.image.proto.task_timers_entry;
import dev.cryo.image.proto.vma_entry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One task of a tree dump: its threads, memory, fds and core, collected while the whole tree is frozen. A zombie
 * has only its core (task_state dead, its exit status) and its place in pstree.img; a stopped task is dumped as a
 * live one, with task_state stopped. Its ptrace work runs on the tracer thread.
 */
final class TaskDump {
    /**
     * Threads whose altstack and tid address are read together, each with its own bytes of the scratch (4 KiB below
     * the leader's stack pointer for 128): a batch waits for the one before it, so a 65-thread process goes in one.
     */
    static final int THREAD_BATCH = 128;
    /**
     * The most auxv words CRIU keeps (its AT_VECTOR_SIZE): CRIU's restore refuses more as a corrupted image. This
     * kernel's /proc/PID/auxv has 46 here, the last pair AT_NULL, which a restore's PR_SET_MM_MAP fills in anyway.
     */
    static final int CRIU_AT_VECTOR_SIZE = 44;

    private final int pid;
    /** kernel-object ids (vm, files, fs, sighand) and pages id: this task's own number in the tree, from 1 */
    private final int number;
    private final DumpOptions options;
    private final Log log;
    private final ProcFs proc;
    private final FileTable files;
    private final SharedMemory.Dump shmem;
    final FdDumpContext fdCtx;
    private TreeTask task;

    // state of the frozen task that must be put back if it keeps running
    private List<ThreadState> threads = List.of(); // every frozen thread, the leader first
    private Registers regs; // the leader's
    private RemoteSyscall remote; // in the leader
    private RemoteScratch scratch;
    private boolean frozen;

    /** fd number -> files.img id, once collected */
    final Map<Integer, Integer> idOfFd = new LinkedHashMap<>();
    long pagesScanned, pagesWritten, memdumpUs, pagesSkippedParent;
    IncrementalDump incremental = IncrementalDump.none();

    TaskDump(TreeTask task, int number, DumpOptions options, Log log, ProcFs proc, FileTable files,
             SharedMemory.Dump shmem, FdDumpContext fdCtx) {
        this.task = task;
        this.pid = task.pid();
        this.number = number;
        this.options = options;
        this.log = log;
        this.proc = proc;
        this.files = files;
        this.shmem = shmem;
        this.fdCtx = fdCtx;
        shmem.register(pid);
    }

    int pid() {
        return pid;
    }

    int number() {
        return number;
    }

    TreeTask task() {
        return task;
    }

    boolean zombie() {
        return task.state() == TaskState.DEAD;
    }

    /**
     * At most what this task's images written after a kill take ({@link SpaceReserve}), once its threads are read:
     * a core a thread, each with its pending signals.
     */
    long coreBytesBound() {
        long bytes = 0;
        for (ThreadState t : threads) {
            bytes += SpaceReserve.coreBytes() + SpaceReserve.PENDING_BYTES * t.pendingCount();
        }
        return bytes;
    }

    List<ThreadState> threads() {
        return threads;
    }

    RemoteSyscall remote() {
        return remote;
    }

    /**
     * The ids-PID.img of the task: its own vm, files, fs and sighand (shared ones are refused before the freeze),
     * numbered from 2 as CRIU numbers them: 1 is the dumper's own, which inventory.img's root_ids holds (a restore
     * compares the root's ids with those to know what it shares with its restorer: nothing).
     */
    task_kobj_ids_entry ids() {
        return TaskResources.ids(number + 1);
    }

    int pagesId() {
        return number;
    }

    /** The task is frozen: its threads, the leader first, and its state as seen frozen. */
    void frozen(List<Integer> tids, TreeTask now) {
        List<ThreadState> t = new ArrayList<>(tids.size());
        for (int tid : tids) {
            t.add(ThreadState.frozen(tid));
        }
        threads = t;
        task = now.withThreads(tids);
        frozen = true;
    }

    /** The task is a zombie (it exited before or while the tree was frozen). */
    void dead(TreeTask now) {
        task = now;
        threads = List.of();
        frozen = false;
    }

    /** What goes into the images for one task, gathered while the tree is frozen. */
    record Images(TaskDump task, pstree_entry pstree, Cores cores, mm_entry mm, Memory memory,
                  List<fdinfo_entry> fdinfo, fs_entry fs) {
    }

    /**
     * A frozen task's own pages: scanned (/proc/PID/pagemap), planned (what an incremental dump leaves to the parent)
     * and read (process_vm_readv; a large buffer is read while it is written). Any thread may do it.
     */
    final class Memory {
        private final List<MapsEntry> maps;
        private final dev.cryo.engine.mem.TrackedTarget target;
        private PageMap pagemap;
        private PageBuffer pages;
        /** Each VMA's guard regions, by its start: markers, no pages, which the mm image keeps beside its VMAs. */
        private final Map<Long, List<PageRun>> guards = new java.util.HashMap<>();

        Memory(List<MapsEntry> maps, dev.cryo.engine.mem.TrackedTarget target) {
            this.maps = maps;
            this.target = target;
        }

        /** Set before {@link #read}: its pages go into the reading thread's buffer, which writes them right after. */
        private boolean onThreadBuffer;

        void onThreadBuffer() {
            onThreadBuffer = true;
        }

        /**
         * {@code -Dcryo.dump.sharedPages=pin}: pages shared with other processes are read with process_vm_readv like
         * the rest, which leaves the process a copy of each (for A/B runs).
         */
        static final boolean SHARED_BY_PROC_MEM = !"pin".equals(System.getProperty("cryo.dump.sharedPages"));

        boolean read() throws CryoException {
            if (pages != null) {
                return true;
            }
            try {
                long m0 = System.nanoTime();
                List<PageRun> runs = new ArrayList<>();
                Set<PageRun> unreadable = new HashSet<>();
                try (PageMapScanner scanner = new PageMapScanner(pid)) {
                    scanner.scanAhead(maps, m -> !m.isKernelSpecial() && !m.shared());
                    for (MapsEntry m : maps) {
                        if (m.isAioRing()) {
                            // an AIO context's ring, whole: its header and the events not reaped yet (AioRings)
                            pagesScanned += m.pages();
                            runs.add(new PageRun(m.start(), m.pages()));
                            continue;
                        }
                        if (m.isVdso()) {
                            // its pages, as CRIU saves them: CRIU's restore reads the image's vDSO to match its
                            // symbols with the new kernel's (Cryo's restore puts the kernel's own there instead)
                            pagesScanned += m.pages();
                            runs.add(new PageRun(m.start(), m.pages()));
                            continue;
                        }
                        if (m.isKernelSpecial() || m.shared()) {
                            continue;
                        }
                        pagesScanned += m.pages();
                        List<PageRun> own = scanner.ownPages(m);
                        if (!own.isEmpty() && SHARED_BY_PROC_MEM) {
                            own = scanner.splitShared(own, unreadable); // read without the pin that would copy them
                        }
                        runs.addAll(own);
                        List<PageRun> guarded = scanner.takeGuards();
                        if (!guarded.isEmpty()) {
                            guards.put(m.start(), guarded);
                        }
                        if (!m.read()) {
                            unreadable.addAll(own);
                        }
                    }
                }
                IncrementalDump.MemoryPlan plan = incremental.plan(target, maps, runs, unreadable);
                pagesSkippedParent = plan.skipped();
                PageBuffer buffer = PageBuffer.forRuns(plan.present());
                if (onThreadBuffer) {
                    buffer.onThreadBuffer();
                }
                buffer.readFrom(new RemoteMemory(pid), plan.unreadable());
                pagesWritten = buffer.pages();
                memdumpUs = (System.nanoTime() - m0) / 1000;
                log.info("pid %d: read %d pages of %d scanned in %d us", pid, pagesWritten, pagesScanned, memdumpUs);
                pagemap = new PageMap(pagesId(), plan.entries());
                pages = buffer;
                return true;
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": reading its memory failed: " + e.getMessage(), e);
            } catch (SyscallException e) {
                throw new CryoException("cannot dump pid " + pid + ": reading its memory failed: " + e.getMessage(), e);
            }
        }

        PageMap pagemap() {
            return pagemap;
        }

        /** {@code mm} with the guard regions {@link #read} found kept in their VMAs' entries. */
        mm_entry withGuards(mm_entry mm) {
            if (guards.isEmpty()) {
                return mm;
            }
            mm_entry.Builder b = mm.toBuilder();
            for (int i = 0; i < b.getVmasCount(); i++) {
                List<PageRun> g = guards.get(b.getVmas(i).getStart());
                if (g != null) {
                    b.setVmas(i, dev.cryo.engine.mem.Madvise.withGuards(b.getVmas(i), g));
                    log.debug("pid %d: VMA %x has %d guard regions", pid, b.getVmas(i).getStart(), g.size());
                }
            }
            return b.build();
        }

        PageBuffer pages() {
            return pages;
        }
    }

    /** pstree.img's entry: root's ppid is 0, as CRIU writes it. */
    pstree_entry pstree() {
        var e = pstree_entry.newBuilder().setPid(pid).setPpid(task.ppid()).setPgid(task.pgid()).setSid(task.sid());
        if (threads.isEmpty()) {
            e.addAllThreads(task.threads());
        } else {
            for (ThreadState t : threads) {
                e.addThreads(t.tid());
            }
        }
        return e.build();
    }

    /** A zombie: its core says it is dead and with which wait status; it has no memory, files or threads. */
    Images zombieImages() throws CryoException {
        String comm;
        try {
            comm = proc.comm(pid);
        } catch (IOException e) {
            comm = "";
        }
        var tc = task_core_entry.newBuilder().setTaskState(TaskState.DEAD.code()).setExitCode(task.exitCode())
                .setPersonality(0).setFlags(0).setBlkSigset(0).setComm(comm);
        zombieSignals(tc);
        var core = core_entry.newBuilder().setMtype(core_entry.march.X86_64).setTc(tc);
        core_entry built = core.build();
        return new Images(this, pstree(), () -> Map.of(pid, built), null, null, null, null);
    }

    /**
     * What /proc still shows of an unreaped zombie's signals: its mask and which signals it ignores or catches (its
     * sighand lives until it is reaped). A caught signal's handler cannot be read (a zombie cannot be seized) and is
     * never run again: any address other than SIG_DFL and SIG_IGN shows the same.
     */
    private void zombieSignals(task_core_entry.Builder tc) {
        try {
            TaskStatus status = proc.status(pid);
            long ignored = status.hex("SigIgn"), caught = status.hex("SigCgt");
            tc.setBlkSigset(status.hex("SigBlk"));
            for (int sig : Signals.numbered()) {
                long bit = 1L << (sig - 1);
                long handler = (caught & bit) != 0 ? ZOMBIE_HANDLER : (ignored & bit) != 0 ? 1 : 0;
                tc.addSigactions(sa_entry.newBuilder().setSigaction(handler).setFlags(0).setRestorer(0).setMask(0)
                        .setCompatSigaction(false));
            }
        } catch (IOException | RuntimeException e) {
            // reaped meanwhile: the restore gives it its parent's, as a child inherits them at fork
        }
    }

    /** The handler a zombie's caught signals are written with (a page-aligned address no handler would have). */
    static final long ZOMBIE_HANDLER = 0x1000;

    /**
     * What only the task's tracer (ptrace, remote syscalls) or its own /proc files tell, read by {@link #readOwn}:
     * everything of a task that the tables the tasks share (files, shared memory) do not hold.
     */
    private record Own(TaskStatus status, TaskStat stat, String mapsText, List<MapsEntry> maps, List<vma_entry> vmas,
                       long brk, task_timers_entry timers, dev.cryo.engine.resource.TaskFlags flags, int dumpable,
                       long[] auxv, Cores cores) {
    }

    /**
     * A task's core entries, one per thread, built from the state read while it was frozen: the dump builds them
     * once the tree was let go (the frozen window only reads), as the entries need nothing of the task itself.
     */
    interface Cores {
        Map<Integer, core_entry> build() throws CryoException;
    }

    private Own own;
    /** The threads' seccomp state read frozen (the threads under seccomp, or with their own no_new_privs). */
    private Map<Integer, dev.cryo.engine.resource.Seccomp.OfThread> seccomp = Map.of();

    Map<Integer, dev.cryo.engine.resource.Seccomp.OfThread> seccomp() {
        return seccomp;
    }

    private dev.cryo.engine.ptrace.Tracer tracer; // null: the dump's own thread attached the task

    /** The tracer thread that froze the task: every ptrace request for it must come from there. */
    void tracedBy(dev.cryo.engine.ptrace.Tracer tracer) {
        this.tracer = tracer;
    }

    /** Runs {@code work} on the task's tracer (here, when this thread is it). */
    <T> T onTracer(dev.cryo.engine.ptrace.Tracer.Task<T> work) throws CryoException {
        return tracer == null ? work.run() : tracer.call(work);
    }

    /** Starts {@code work} on the task's tracer, which must be a thread of its own (a tree's, see TracerPool). */
    <T> java.util.concurrent.Future<T> onTracerLater(dev.cryo.engine.ptrace.Tracer.Task<T> work) {
        return tracer.submit(work);
    }

    /**
     * The first half of {@link #collect}, on the task's tracer: threads (registers, masks, altstacks, xstate...),
     * what only remote syscalls tell (brk, handlers, timers, flags), /proc's own files, and the cores. It touches
     * nothing the tasks share, so the tasks of a tree are read concurrently, each by its tracer.
     */
    void readOwn() throws CryoException {
        if (own != null) {
            return;
        }
        try {
            long t0 = System.nanoTime();
            TaskStatus status = proc.status(pid); // its Threads: line spares listing /proc/PID/task
            if (status.threads() != threads.size()) {
                throw new TreeChanging("cannot dump pid " + pid + ": it has " + status.threads() + " threads, "
                        + threads.size() + " were frozen (" + unfrozen() + "); try again");
            }
            // before Cryo's first remote syscall here: a thread's seccomp is suspended for them, its filters read
            List<Integer> tids = new ArrayList<>(threads.size());
            for (ThreadState t : threads) {
                tids.add(t.tid());
            }
            for (ThreadState t : threads) {
                t.readRegisters(); // a ptrace request, no remote call
            }
            // a threaded process's threads as the kernel keeps them, in one read: no /proc status or remote call each
            var view = takeKernelView();
            var kernelRows = threads.size() > 1 || view != null && !options.preDump()
                    ? ThreadState.kernelRows(view, pid, threads, log) : null;
            for (ThreadState t : threads) {
                t.readMask(kernelRows == null ? null : kernelRows.get(t.tid())); // a request where the row cannot say
            }
            seccomp = dev.cryo.engine.resource.Seccomp.frozen(pid, tids, status, proc, !options.preDump(),
                    Ptrace.O_TRACESYSGOOD, kernelRows, log);
            ThreadState leader = threads.get(0);
            regs = leader.registers();
            log.debug("pid %d: registers: %s, sigmask %#x, %d threads", pid, regs, leader.sigmask(), threads.size());
            TaskStat stat = proc.stat(pid);
            List<MapsEntry> maps;
            List<vma_entry> vmas = null; // null: the maps changed since the preview, collect() makes them again
            String mapsText = proc.mapsText(pid);
            boolean previewed = preview != null && preview.text().equals(mapsText);
            if (previewed) {
                maps = preview.maps();
                vmas = preview.vmas();
            } else {
                maps = ProcFs.parseMaps(mapsText);
            }
            RemoteMemory memory = new RemoteMemory(pid);
            log.debug("pid %d: read /proc: %d VMAs", pid, maps.size());
            // the remote part: brk and signal handlers have no other interface
            long site = previewed && preview.vdsoSite() >= 0 ? preview.vdsoSite() : SyscallSite.find(memory, maps, regs);
            remote = leader.remote(site); // blocks every signal in it: none may interrupt our syscalls
            Trampolines tramp = trampolines(status, memory, maps, previewed);
            long caught = status.hex("SigCgt");
            // SIGTRAP neither ignored nor pending in the process: remote calls may be stepped over
            long trap = dev.cryo.engine.ptrace.RemoteSyscall.SIGTRAP_BIT;
            boolean stepping = (status.hex("SigIgn") & trap) == 0 && (status.hex("ShdPnd") & trap) == 0
                    && (status.hex("SigPnd") & trap) == 0;
            List<Timers.Listed> listed = options.preDump() ? List.of() : Timers.listed(pid);
            // the task's calls' structs from 0 (handlers, timers, flags), then each thread's altstack and tid address,
            // room for a batch of threads read at once
            int taskBytes = Signals.dumpBytes(caught) + (options.preDump() ? 0
                    : Timers.dumpBytes(listed) + dev.cryo.engine.resource.TaskFlags.DUMP_BYTES);
            int threadArea = (taskBytes + 63) & ~63;
            int scratchBytes = threadArea + (options.preDump() ? 0
                    : ThreadState.SCRATCH_BYTES * Math.min(threads.size(), THREAD_BATCH));
            // the frame first, below where the scratch goes: even a scratch mapped for want of stack is a call
            leader.armFrame(memory, tramp, taskBytes > 0 ? RemoteScratch.stackAddress(regs, scratchBytes)
                    : leader.frameTop(), null, maps);
            if (taskBytes > 0) {
                scratch = RemoteScratch.borrowStack(memory, regs, remote, scratchBytes);
            }
            // brk, handlers, timers and flags have no other interface: one sequence of remote calls, one put-back
            var reads = new dev.cryo.engine.ptrace.RemoteReads(remote, scratch, 0, taskBytes);
            int brkCall = reads.call("brk", Syscall.BRK, 0);
            var actionsRead = Signals.dumpActions(reads, caught, status.hex("SigIgn"));
            var timersRead = options.preDump() ? null : Timers.dump(reads, listed);
            var flagsRead = options.preDump() ? null : dev.cryo.engine.resource.TaskFlags.dump(reads);
            reads.run(stepping);
            long brk = reads.result(brkCall);
            List<sa_entry> actions = actionsRead.get();
            task_timers_entry timers = null;
            if (timersRead != null) {
                try {
                    timers = timersRead.get(); // itimers, alarm, POSIX timers
                } catch (SyscallException e) {
                    throw new CryoException("cannot dump pid " + pid + ": reading its timers failed: " + e.getMessage(), e);
                }
            }
            boolean subreaper = !options.preDump() && subreaper();
            // THP disable and the parent-death signal (and the subreaper flag again): TaskFlags
            dev.cryo.engine.resource.TaskFlags flags = flagsRead == null ? null : flagsRead.get();
            int dumpable = dumpable();
            long[] auxv = proc.auxv(pid);
            long t1 = System.nanoTime();
            log.debug("pid %d: remote syscalls done (brk %#x) in %d us", pid, brk, (t1 - t0) / 1000);
            Cores cores = null;
            if (!options.preDump()) {
                String comm = kernelRows != null ? kernelRows.get(pid).comm() : proc.comm(pid);
                var creds = TaskResources.creds(status, flags == null ? 0 : flags.securebits());
                // comm and robust list beside the ptrace work, for a process with many threads the kernel's
                // iterator did not read
                java.util.concurrent.Future<?> plain = kernelRows == null && threads.size() >= ThreadState.ASIDE_FROM
                        ? ThreadState.readPlainAside(threads, pid, comm, proc) : null;
                // the threads' calls stepped over as the task's were; the leader's own pending SIGTRAP is ThreadState's
                boolean threadsStepping = (status.hex("SigIgn") & trap) == 0 && (status.hex("ShdPnd") & trap) == 0;
                long site0 = site;
                int threadArea0 = threadArea;
                Trampolines tramp0 = tramp;
                List<MapsEntry> maps0 = maps;
                threadsLeft = () -> {
                    long t2 = System.nanoTime();
                    for (ThreadState t : threads) {
                        if (kernelRows == null && plain == null) {
                            t.readFrozen(t.tid() == pid ? comm : proc.comm(t.tid()));
                        } else {
                            // the rest is in its row, or read aside
                            t.readTraced(kernelRows == null ? null : kernelRows.get(t.tid()));
                        }
                    }
                    long t3 = System.nanoTime();
                    String how;
                    if (kernelRows != null) {
                        ThreadState.fromKernel(threads, kernelRows);
                        how = "bpf task iterator";
                    } else {
                        ThreadState.readRemoteAll(threads, site0, scratch, threadArea0, threadsStepping, tramp0, maps0);
                        how = threadsStepping ? "remote calls, stepped" : "remote calls";
                    }
                    leader.settle(); // the task's own requests go on in the leader; the others' are awaited at the end
                    if (plain != null) {
                        ThreadState.awaitPlain(plain, pid);
                    }
                    log.debug("pid %d: %d threads' own state in %d us, their altstacks and tid addresses in %d us (%s)",
                            pid, threads.size(), (t3 - t2) / 1000, (System.nanoTime() - t3) / 1000, how);
                };
                if (plain == null || !THREADS_AFTER_MEMORY) {
                    readThreadsLeft(); // few threads: here, as a tree's tasks read on their tracers at once
                }
                // what the threads share is the task's, written once in the leader's core
                var tc = task_core_entry.newBuilder().setTaskState(task.state().code()).setExitCode(0)
                        .setPersonality(proc.personality(pid)).setFlags(stat.flags()).setBlkSigset(leader.sigmask())
                        .setComm(comm).setRlimits(TaskResources.rlimits(pid))
                        .setSignalsS(Signals.dumpQueue(pid, true)).addAllSigactions(actions)
                        .setOomScoreAdj(TaskResources.oomScoreAdj(proc, pid)).setTimers(timers);
                long loginuid = proc.loginuid(pid);
                if (loginuid >= 0) {
                    tc.setLoginuid((int) loginuid);
                }
                if (task.state() == TaskState.STOPPED) {
                    tc.setStopSigno(task.stopSignal());
                }
                if (subreaper) {
                    tc.setChildSubreaper(true);
                }
                List<ThreadState> frozenThreads = threads;
                cores = () -> {
                    Map<Integer, core_entry> out = new LinkedHashMap<>();
                    for (ThreadState t : frozenThreads) {
                        var core = t.core(creds);
                        if (t.tid() == pid) {
                            core.setTc(tc);
                            if (flags != null) {
                                flags.into(core);
                            }
                        }
                        out.put(t.tid(), core.build());
                    }
                    return out;
                };
            }
            own = new Own(status, stat, mapsText, maps, vmas, brk, timers, flags, dumpable, auxv, cores);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading /proc failed: " + e.getMessage(), e);
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code -Dcryo.threads.afterMemory=true}: a many-threaded task's threads read while a writer copies its memory
     * ({@link #readThreadsLeft}). Off: on 2 cores the copy took the core the threads' remote calls run on, and those
     * went from 5.3-6.5 to 7.7-16 ms for 65 threads, the frozen time no shorter (cold dumps of threads-64 in turns at
     * load 0.7: medians 29 ms off, 31 ms on); a machine with cores to spare may differ.
     */
    static final boolean THREADS_AFTER_MEMORY = Boolean.parseBoolean(System.getProperty("cryo.threads.afterMemory", "false"));

    /** What {@link #readOwn} left of its threads' own state, or null: see {@link #readThreadsLeft}. */
    private ThreadsLeft threadsLeft;

    @FunctionalInterface
    private interface ThreadsLeft {
        void read() throws SyscallException, CryoException, IOException;
    }

    /** Whether {@link #readOwn} left the threads' own state to {@link #readThreadsLeft}. */
    boolean threadsLeft() {
        return threadsLeft != null;
    }

    /**
     * The threads' own state (xstate, own pending signals, rseq, then each thread's altstack and clear-child-tid
     * through its remote calls), on the task's tracer. {@link #readOwn} reads it itself, unless the task has many
     * threads ({@link ThreadState#ASIDE_FROM}) and {@link #THREADS_AFTER_MEMORY}: then it is read here once its
     * memory is with a writer (the dump calls this after {@link #collect}), so that its pages are copied while its
     * threads make their remote calls.
     */
    void readThreadsLeft() throws CryoException {
        ThreadsLeft left = threadsLeft;
        if (left == null) {
            return;
        }
        threadsLeft = null;
        try {
            left.read();
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading /proc failed: " + e.getMessage(), e);
        }
    }

    /**
     * Memory, remote state, files and cores of a frozen live (or stopped) task: {@link #readOwn} (here, unless its
     * tracer did it already), then what goes into the tables the tasks share (mapped files, shared memory, fds), in
     * the tree's order on the dump's thread.
     */
    Images collect() throws CryoException {
        if (own == null) {
            onTracer(() -> {
                readOwn();
                return null;
            });
        }
        try {
            long t0 = System.nanoTime();
            TaskStatus status = own.status();
            List<MapsEntry> maps = own.maps();
            List<vma_entry> vmas = own.vmas();
            if (vmas == null) {
                // changed since the preview (or none): the mapped files are found again from the frozen maps
                shmem.forget(pid);
                maps = smapsOf(own.mapsText()); // VmFlags (madvise) come from smaps
                vmas = vmaEntries(maps);
            }
            // memory: the VMAs now; the pages are scanned and read by a writer thread while this one goes on with
            // the next task (process_vm_readv and /proc need no tracer), unless an incremental dump's tracker must
            // see them here
            mm_entry.Builder mm = mmEntry(own.stat(), own.brk());
            if (own.flags() != null) {
                own.flags().into(mm);
            }
            mm.addAllVmas(vmas);
            for (vma_entry v : vmas) {
                if (dev.cryo.engine.resource.AioRings.isAioRing(v)) {
                    mm.addAios(dev.cryo.engine.resource.AioRings.entry(v.getStart(), v.getEnd() - v.getStart()));
                }
            }
            mm.setExeFileId(files.mapped(proc.link(pid, "exe"), proc.dir(pid).resolve("exe"), fdCtx));
            long[] auxv = own.auxv();
            for (int i = 0; i < Math.min(auxv.length, CRIU_AT_VECTOR_SIZE); i++) {
                mm.addMmSavedAuxv(auxv[i]);
            }
            Memory pages = new Memory(maps, new dev.cryo.engine.mem.TrackedTarget(pid, remote));
            if (incremental.active() || options.preDump()) {
                onTracer(pages::read); // the tracker may run syscalls in the task
            }
            if (options.preDump()) {
                // memory only: the process runs on and a later dump saves the rest
                return new Images(this, pstree(), null, mm.build(), pages, null, null);
            }

            // files
            List<fdinfo_entry> fdinfo = new ArrayList<>();
            try (FileOwner.Reader owners = new FileOwner.Reader(fdCtx)) {
                for (FdInfo fd : proc.fds(pid)) {
                    FdKind kind = FdKinds.of(fd).orElseThrow(() -> new CryoException("cannot dump pid " + pid + ": fd "
                            + fd.fd() + " is " + FdKinds.describe(fd)));
                    if (!fdCtx.checkedBeforeFreeze(fd)) {
                        // opened after the checks, while the task still ran: refused as any other
                        kind.check(fdCtx, fd);
                    }
                    Integer shared = files.sameDescription(pid, fd); // inherited across fork, or dup'ed
                    int id;
                    if (shared != null) {
                        id = shared;
                    } else {
                        id = files.reserve(pid, fd);
                        long f0 = System.nanoTime();
                        files.put(id, owners.keep(fd, kind.dump(fdCtx, fd, id)));
                        log.debug("pid %d: fd %d (%s) in %d us", pid, fd.fd(), kind.type(), (System.nanoTime() - f0) / 1000);
                    }
                    idOfFd.put(fd.fd(), id);
                    fdinfo.add(fdinfo_entry.newBuilder().setId(id).setFd(fd.fd()).setType(kind.type())
                            .setFlags((fd.flags() & RegularFile.O_CLOEXEC) != 0 ? RegularFile.FD_CLOEXEC : 0)
                            .build());
                }
            }
            String cwd = proc.link(pid, "cwd");
            String root = proc.link(pid, "root");
            fs_entry fs = fs_entry.newBuilder().setCwdId(files.mapped(cwd, proc.dir(pid).resolve("cwd"), fdCtx))
                    .setRootId(files.mapped(root, proc.dir(pid).resolve("root"), fdCtx)).setUmask(status.umask()).build();
            log.debug("pid %d: mm, files and fs in %d us", pid, (System.nanoTime() - t0) / 1000);
            return new Images(this, pstree(), own.cores(), mm.build(), pages, fdinfo, fs);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading /proc failed: " + e.getMessage(), e);
        }
    }

    static final int PR_GET_CHILD_SUBREAPER = 37;

    /** Whether the task is a child subreaper (orphans below it are its to reap); only the task can say. */
    private boolean subreaper() throws SyscallException {
        remote.call("prctl(PR_GET_CHILD_SUBREAPER)", Syscall.PRCTL, PR_GET_CHILD_SUBREAPER, scratch.address());
        byte[] b = scratch.read(0, 4);
        return (b[0] | b[1] | b[2] | b[3]) != 0;
    }

    /** The threads /proc lists now that were not frozen, or the frozen ones it no longer lists. */
    private String unfrozen() {
        try {
            Set<Integer> listed = new HashSet<>(proc.tasks(pid));
            List<String> out = new ArrayList<>();
            for (ThreadState t : threads) {
                if (!listed.remove(t.tid())) {
                    out.add("thread " + t.tid() + " is gone");
                }
            }
            for (int tid : listed) {
                out.add("thread " + tid + " was born");
            }
            return String.join(", ", out);
        } catch (IOException e) {
            return "its threads cannot be listed: " + e.getMessage();
        }
    }

    /**
     * {@code -Dcryo.remote.frames=off}: remote calls without {@link dev.cryo.engine.ptrace.SigreturnFrame}s, as before
     * they had them (and stepped where SIGTRAP allows), for A/B runs.
     */
    static final boolean FRAMES = !"off".equals(System.getProperty("cryo.remote.frames", "on"));

    /**
     * The code the task's remote calls run from so that a Cryo killed during one leaves it as it was
     * ({@link Trampolines}), or null: the frames are off, the task's code has none, or its threads have shadow stacks
     * (whose {@code ret} into the trampoline would fault).
     */
    private Trampolines trampolines(TaskStatus status, RemoteMemory memory, List<MapsEntry> maps, boolean previewed) {
        String features = status.get("x86_Thread_features");
        if (!FRAMES || features != null && features.contains("shstk")) {
            return null;
        }
        Trampolines t = previewed ? preview.trampolines() : Trampolines.find(memory, maps); // found ahead: cached
        log.debug("pid %d: remote calls %s", pid, t == null ? "without a frame (no syscall; ret and rt_sigreturn"
                + " trampoline in its code)" : String.format("with a frame, from %#x, returning to %#x", t.gadget(),
                t.restorer()));
        return t;
    }

    /** Maps as read before the freeze, with their VMA entries and mapped files. */
    private record MapsPreview(String text, List<MapsEntry> maps, List<vma_entry> vmas, long vdsoSite,
                               Trampolines trampolines) {
    }

    private MapsPreview preview;

    /** The kernel's iterator of the task's threads, linked before the freeze; null once taken, or where unused. */
    private dev.cryo.engine.resource.ThreadKernelView kernelView;

    private dev.cryo.engine.resource.ThreadKernelView takeKernelView() {
        var v = kernelView;
        kernelView = null;
        return v;
    }

    /** Closes the iterator's link if the dump never came to read it (a failure before the frozen read). */
    void closeKernelView() {
        var v = takeKernelView();
        if (v != null) {
            v.close();
        }
    }

    /**
     * Reads and parses the maps while the task still runs; the frozen maps are then only compared byte for
     * byte with these (any difference and they are read again), which keeps the parsing out of the frozen time.
     */
    void previewMaps() {
        if (zombie()) {
            return;
        }
        if (kernelView == null && (task.threads().size() > 1 || dev.cryo.engine.resource.ThreadKernelView.prepared())) {
            try {
                // a link costs ~0.1 ms
                kernelView = dev.cryo.engine.resource.ThreadKernelView.forProcess(pid, task.threads().size());
            } catch (SyscallException e) {
                log.debug("pid %d: no kernel iterator of its threads (%s): they are read one by one", pid, e.getMessage());
            }
        }
        try {
            if (ahead == null) {
                readMapsAhead();
            }
            if (ahead instanceof Exception e) {
                throw e;
            }
            MapsRead r = (MapsRead) ahead;
            ahead = null;
            List<vma_entry> vmas = vmaEntries(r.maps());
            preview = new MapsPreview(r.text(), r.maps(), vmas, r.vdsoSite(), r.trampolines());
        } catch (Exception e) {
            // the frozen read decides, and reports what it finds
            shmem.forget(pid);
            preview = null;
        }
    }

    /** The maps as read by {@link #readMapsAhead}, before their VMA entries are made. */
    private record MapsRead(String text, List<MapsEntry> maps, long vdsoSite, Trampolines trampolines) {
    }

    /** What {@link #readMapsAhead} found: a {@link MapsRead}, or the exception it met; null until it ran. */
    private volatile Object ahead;

    /**
     * The part of {@link #previewMaps} that touches nothing shared (the task's maps and smaps read and parsed, its
     * vDSO's syscall site found), so that a tree's tasks are read on several threads at once; the VMA entries,
     * which number shared objects and files, are made afterwards in tree order by {@link #previewMaps}.
     */
    void readMapsAhead() {
        if (zombie()) {
            return;
        }
        try {
            String text = proc.mapsText(pid);
            List<MapsEntry> maps = smapsOf(text); // smaps walks page tables: read while the target still runs
            // the vDSO's code is the kernel's, read-only; same maps after the freeze = same place
            long site;
            RemoteMemory memory = new RemoteMemory(pid);
            try {
                site = SyscallSite.inVdso(memory, maps);
            } catch (SyscallException e) {
                site = -1;
            }
            // file-backed read-only code: the same after the freeze when the maps are
            ahead = new MapsRead(text, maps, site, FRAMES ? Trampolines.find(memory, maps) : null);
        } catch (IOException | RuntimeException e) {
            ahead = e;
        }
    }

    /**
     * The VMAs of {@code mapsText} with their VmFlags from /proc/PID/smaps, which {@code maps} lacks; the maps text as
     * it is (a [stack] taken as growing down) when smaps shows other VMAs (they changed between the two reads).
     */
    private List<MapsEntry> smapsOf(String mapsText) throws IOException {
        List<MapsEntry> plain = ProcFs.parseMaps(mapsText);
        List<MapsEntry> smaps = proc.maps(pid);
        if (smaps.size() != plain.size()) {
            return plain;
        }
        for (int i = 0; i < plain.size(); i++) {
            MapsEntry a = plain.get(i), b = smaps.get(i);
            if (a.start() != b.start() || a.end() != b.end() || a.prot() != b.prot() || a.offset() != b.offset()
                    || a.inode() != b.inode()) {
                return plain;
            }
        }
        return smaps;
    }

    /** A files.img entry (type MEMFD) for a mapped memfd, one per memfd, open mode and task. */
    private int memfdFileId(MapsEntry m, int flags) {
        String open = proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end())).toString();
        // noted for every view, and again when the maps are read again after the freeze: the entry is made once
        shmem.noteMemfd(pid, m.inode(), m.path(), open, m.start(), m.end());
        return files.byKey("memfd " + m.inode() + " " + flags + " of " + pid, id ->
                shmem.memfdFile(pid, m.inode(), m.path(), open, m.start(), m.end(), id, flags, 0));
    }

    private mm_entry.Builder mmEntry(TaskStat s, long brk) {
        return mm_entry.newBuilder().setMmStartCode(s.startCode()).setMmEndCode(s.endCode())
                .setMmStartData(s.startData()).setMmEndData(s.endData()).setMmStartStack(s.startStack())
                .setMmStartBrk(s.startBrk()).setMmBrk(brk).setMmArgStart(s.argStart()).setMmArgEnd(s.argEnd())
                .setMmEnvStart(s.envStart()).setMmEnvEnd(s.envEnd()).setDumpable(own.dumpable());
    }

    /** PR_GET_DUMPABLE in the task (a uid change sets it to 0, and restore puts back what it was). */
    private int dumpable() {
        if (remote == null) {
            return 1;
        }
        try {
            return (int) remote.call("prctl(PR_GET_DUMPABLE)", Syscall.PRCTL, 3 /* PR_GET_DUMPABLE */);
        } catch (SyscallException e) {
            return 1;
        }
    }

    static final int VMA_AREA_REGULAR = 1, VMA_AREA_VSYSCALL = 1 << 2, VMA_AREA_VDSO = 1 << 3,
            VMA_AREA_HEAP = 1 << 5, VMA_FILE_PRIVATE = 1 << 6, VMA_FILE_SHARED = 1 << 7, VMA_ANON_SHARED = 1 << 8,
            VMA_ANON_PRIVATE = 1 << 9, VMA_AREA_VVAR = 1 << 12;
    static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANON = 0x20, MAP_GROWSDOWN = 0x100, MAP_NORESERVE = 0x4000;

    /**
     * The VMA entries of {@code maps}, in order. The kernel's data pages before the vDSO ({@code [vvar]}, and since
     * 6.13 {@code [vvar_vclock]}) are one VVAR entry, as CRIU writes them: its restore expects a single one.
     */
    private List<vma_entry> vmaEntries(List<MapsEntry> maps) throws IOException, CryoException {
        List<vma_entry> vmas = new ArrayList<>(maps.size());
        for (MapsEntry m : maps) {
            vma_entry v = vmaEntry(m);
            vma_entry last = vmas.isEmpty() ? null : vmas.get(vmas.size() - 1);
            if (m.isVvar() && last != null && (last.getStatus() & VMA_AREA_VVAR) != 0 && last.getEnd() == m.start()
                    && last.getProt() == v.getProt()) {
                vmas.set(vmas.size() - 1, last.toBuilder().setEnd(m.end()).build());
            } else {
                vmas.add(v);
            }
        }
        return vmas;
    }

    private vma_entry vmaEntry(MapsEntry m) throws IOException, CryoException {
        var v = vma_entry.newBuilder().setStart(m.start()).setEnd(m.end()).setPgoff(m.offset()).setShmid(0)
                .setProt(m.prot()).setFd(-1);
        int flags = m.shared() ? MAP_SHARED : MAP_PRIVATE;
        int status;
        if (m.isVsyscall()) {
            status = VMA_AREA_VSYSCALL | VMA_ANON_PRIVATE;
            flags |= MAP_ANON;
        } else if (m.isVdso()) {
            status = VMA_AREA_REGULAR | VMA_AREA_VDSO | VMA_ANON_PRIVATE;
            flags |= MAP_ANON;
        } else if (m.isVvar()) {
            status = VMA_AREA_REGULAR | VMA_AREA_VVAR | VMA_ANON_PRIVATE;
            flags |= MAP_ANON;
        } else if (m.isAioRing()) {
            // its pages are saved as a private VMA's are; the restore makes the context again (AioRings)
            status = VMA_AREA_REGULAR | dev.cryo.engine.resource.AioRings.VMA_AREA_AIORING;
            flags |= MAP_ANON;
        } else if (SharedMemory.isAnonShared(m)) {
            status = VMA_AREA_REGULAR | VMA_ANON_SHARED;
            flags |= MAP_ANON;
            v.setShmid(shmem.collect(pid, m));
        } else if (SharedMemory.isSysv(m)) {
            status = VMA_AREA_REGULAR | VMA_ANON_SHARED | SharedMemory.VMA_AREA_SYSVIPC;
            flags |= MAP_ANON;
            v.setShmid(shmem.collectSysv(pid, m));
            v.setFdflags(m.write() ? RegularFile.O_RDWR : 0);
        } else if (SharedMemory.isMemfd(m)) {
            status = VMA_AREA_REGULAR | (m.shared() ? VMA_FILE_SHARED : VMA_FILE_PRIVATE) | SharedMemory.VMA_AREA_MEMFD;
            int fdflags = m.shared() && m.write() ? RegularFile.O_RDWR : 0;
            v.setShmid(memfdFileId(m, fdflags));
            v.setFdflags(fdflags);
        } else if (m.fileBacked()) {
            status = VMA_AREA_REGULAR | (m.shared() ? VMA_FILE_SHARED : VMA_FILE_PRIVATE);
            v.setShmid(files.mapped(m.path(), proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end())), fdCtx));
            // a shared mapping read-only now may have been mapped from a file opened for writing, and be made writable
            // later: VM_MAYWRITE ("mw") says so, and the restore must open the file as the program did
            boolean mayWrite = m.write() || m.vmFlags() != null && m.vmFlags().contains("mw");
            v.setFdflags(m.shared() && mayWrite ? RegularFile.O_RDWR : 0);
        } else if (m.inode() != 0 || m.shared()) {
            throw new CryoException("cannot dump pid " + pid + ": mapping " + m + " is shared memory, which Cryo "
                    + "cannot dump yet");
        } else {
            status = VMA_AREA_REGULAR | VMA_ANON_PRIVATE;
            flags |= MAP_ANON;
            if (m.path().equals("[heap]")) {
                status |= VMA_AREA_HEAP;
            }
        }
        if (m.growsDown()) {
            flags |= MAP_GROWSDOWN;
        }
        if (m.vmFlags().contains("nr")) {
            flags |= MAP_NORESERVE; // no swap space set aside for it (MAP_NORESERVE): mapped again so, as CRIU does
        }
        if (dev.cryo.engine.mem.Madvise.locked(m.vmFlags())) {
            flags |= dev.cryo.engine.mem.Madvise.MAP_LOCKED;
        }
        long madv = dev.cryo.engine.mem.Madvise.fromVmFlags(m.vmFlags());
        if (madv != 0) {
            v.setMadv(madv);
        }
        return v.setFlags(flags).setStatus(status).build();
    }

    /** Puts everything back as it was and lets the task run on (a stopped one stays stopped). */
    void resume() throws CryoException {
        if (!frozen) {
            return;
        }
        SyscallException failed = null;
        int failedTid = 0;
        try {
            releaseScratch();
        } catch (SyscallException e) {
            failed = e;
            failedTid = pid;
        }
        // every thread is let go, even after one failed: none may stay stopped
        List<ThreadState> back = new ArrayList<>(threads.size());
        for (ThreadState t : threads) {
            try {
                t.putBack();
                back.add(t);
            } catch (SyscallException e) {
                if (failed == null) {
                    failed = e;
                    failedTid = t.tid();
                }
            }
        }
        ThreadState.disarmAll(back); // what the frames covered, once every thread has its own registers
        for (ThreadState t : back) {
            try {
                // detach (not CONT): the kernel then restarts an interrupted syscall itself
                Ptrace.detach(t.tid(), 0);
            } catch (SyscallException e) {
                if (failed == null) {
                    failed = e;
                    failedTid = t.tid();
                }
            }
        }
        frozen = false;
        if (failed != null) {
            throw new CryoException("pid " + pid + " could not be resumed after the dump (thread " + failedTid + "): "
                    + failed.getMessage(), failed);
        }
        log.info("Resumed pid %d (%d threads)", pid, threads.size());
    }

    /** Unmaps the task's scratch page (a remote syscall, so before its freezer cgroup is frozen again). */
    void releaseScratch() throws SyscallException {
        if (scratch != null) {
            scratch.release();
            scratch = null;
        }
    }

    boolean isFrozen() {
        return frozen;
    }

    /**
     * After SIGKILL: every traced thread is reaped by its tracer, the leader last. They are polled, not waited for one
     * by one: a traced thread stays a zombie until its tracer reaps it, and when the task is pid 1 of its namespace
     * (a container's init), its last thread to exit waits in the kernel for every other one to be reaped first, so a
     * blocking wait on that one would never return.
     */
    void reapKilled() throws SyscallException {
        if (!frozen) {
            return;
        }
        java.util.List<Integer> left = new java.util.ArrayList<>();
        for (ThreadState t : threads) {
            left.add(t.tid());
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(REAP_SECONDS);
        while (!left.isEmpty()) {
            boolean progress = false;
            for (java.util.Iterator<Integer> it = left.iterator(); it.hasNext(); ) {
                int tid = it.next();
                if (tid == pid && left.size() > 1) {
                    continue; // the leader's end is reported once its threads are gone
                }
                try {
                    WaitStatus st = Ptrace.poll(tid);
                    if (st == null) {
                        continue;
                    }
                    progress = true;
                    if (st.stopped()) {
                        Ptrace.cont(tid, 0); // a stop on its way out (group stop, exit event): let it go on dying
                    } else {
                        it.remove();
                    }
                } catch (SyscallException e) {
                    if (tid == pid || e.errno() != 10 /* ECHILD: reaped with the group */) {
                        throw e;
                    }
                    it.remove();
                    progress = true;
                }
            }
            if (!progress) {
                if (System.nanoTime() > deadline) {
                    throw new SyscallException("pid " + pid + " was killed, but its threads " + left
                            + " did not exit within " + REAP_SECONDS + " s; waitpid", 110 /* ETIMEDOUT */);
                }
                java.util.concurrent.locks.LockSupport.parkNanos(200_000);
            }
        }
        frozen = false;
    }

    /** How long a killed task's threads may take to exit (a core dump is not made: SIGKILL). */
    private static final int REAP_SECONDS = 60;
}
