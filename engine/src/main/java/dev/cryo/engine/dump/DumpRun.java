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

/** One dump of one process, step by step. Runs on the tracer thread. */
final class DumpRun {
    static final int IDS = 1;
    static final int PAGES_ID = 1;

    private final DumpOptions options;
    private final Log log;
    private final int pid;
    private final ProcFs proc = new ProcFs();

    // state of the frozen target that must be put back if it keeps running
    private boolean seized;
    private List<ThreadState> threads = List.of(); // every frozen thread, the leader first
    private Registers regs; // the leader's
    private RemoteSyscall remote; // in the leader
    private RemoteScratch scratch;

    // what the dump found
    private final List<file_entry> files = new ArrayList<>();
    private final Map<String, Integer> fileIds = new LinkedHashMap<>();
    private long freezingUs, frozenUs, memdumpUs, memwriteUs;
    private long pagesScanned, pagesWritten;
    private final SharedMemory.Dump shmem;
    private int nextPagesId = PAGES_ID + 1;

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

    private FdDumpContext fdCtx;
    private long releasedAt;
    private IncrementalDump incremental = IncrementalDump.none();
    private long pagesSkippedParent;

    void run() throws CryoException {
        try {
            runSteps();
        } catch (CryoException | RuntimeException e) {
            if (fdCtx != null && !killed) {
                fdCtx.deleted().undo(log); // the link remaps it made
            }
            if (dirForWriter != null && !killed) {
                dirForWriter.abandonDump(); // marked incomplete (see ImageDir.beginDump), its partial images gone
            } else if (dirForWriter != null) {
                dirForWriter.keepWithoutManifest(); // the target is gone: its images are all there is of it
            }
            throw e;
        }
    }

    private void runSteps() throws CryoException {
        fdCtx = new FdDumpContext(pid, proc, options, log);
        log.info("Dumping pid %d to %s", pid, options.imagesDir());
        Warmup.Rehearsal warm = rehearsal ? Warmup.Rehearsal.NONE : Warmup.start(log);
        ImageDir dir;
        try {
            TargetCheck.requireDumpable(pid, proc, fdCtx);
            if (!rehearsal) {
                incremental = IncrementalDump.prepare(options, proc, log); // refuses before the target is touched
            }
            try {
                dir = ImageDir.create(options.imagesDir(), DirectFiles::write);
                String mode = dir.beginDump();
                dirForWriter = dir;
                if (mode != null) {
                    log.info("%s", mode);
                }
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": cannot create images dir " + options.imagesDir()
                        + ": " + e.getMessage());
            }
        } finally {
            warm.await(); // its helper is gone before anything else happens, refusal or not
        }
        if (!rehearsal) {
            step("warm up", () -> { }); // a named step for fault injection, as before
        }
        previewMaps();
        writeStaticImages(dir);
        startWriter();
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
        frozenUs = (releasedAt - frozenAt) / 1000;
        log.info("Target was frozen for %d us", frozenUs);
        try {
            dir.writeDumpStats(stats_entry.newBuilder().setDump(dump_stats_entry.newBuilder()
                    .setFreezingTime((int) freezingUs).setFrozenTime((int) frozenUs)
                    .setMemdumpTime((int) memdumpUs).setMemwriteTime((int) memwriteUs)
                    .setPagesScanned(pagesScanned).setPagesSkippedParent(pagesSkippedParent).setPagesWritten(pagesWritten)
                    .setPagesLazy(0).setShpagesScanned(shmem.pagesScanned()).setShpagesSkippedParent(0)
                    .setShpagesWritten(shmem.pagesWritten())).build());
            dir.commitDump();
        } catch (IOException e) {
            throw new CryoException("dump of pid " + pid + " done, but stats-dump or " + dev.cryo.image.ImageChecksums.FILE
                    + " could not be written: " + e.getMessage());
        }
        log.msg("Dumping finished successfully");
    }

    private long frozenAt;

    /** Freeze, collect, write, then kill or resume: everything between the freeze and the target's release. */
    private void frozenWindow(ImageDir dir) throws CryoException {
        if (!options.preDump()) {
            scripts.run("pre-dump");
        }
        long t0 = System.nanoTime();
        step("freeze", () -> {
            try {
                List<Integer> tids = Tracers.freeze(proc, pid);
                List<ThreadState> frozen = new ArrayList<>(tids.size());
                for (int tid : tids) {
                    frozen.add(ThreadState.frozen(tid));
                }
                threads = frozen;
            } catch (SyscallException e) {
                throw new CryoException("cannot dump pid " + pid + ": cannot freeze it: " + e.getMessage()
                        + (e.errno() == 1 ? " (is it traced by another process, or does Cryo lack CAP_SYS_PTRACE?)" : ""));
            }
            seized = true;
        });
        long t1 = System.nanoTime();
        frozenAt = t1;
        freezingUs = (t1 - t0) / 1000;
        log.info("Frozen pid %d in %d us", pid, freezingUs);
        try {
            if (!options.preDump()) {
                scripts.run("network-lock");
            }
            Images[] images = new Images[1];
            step("collect", () -> images[0] = collect(fdCtx));
            boolean late = options.preDump() && incremental.pagesAfterResume(); // tracking covers what runs on
            if (!late) {
                step("write images", () -> writeImages(dir, images[0]));
            }
            if (incremental.active()) {
                step("track memory", () -> incremental.finish(dir, new dev.cryo.engine.mem.TrackedTarget(pid, remote)));
            }
            boolean stopped = options.leaveStopped() && !options.preDump(); // -s: stopped once detached
            boolean keepRunning = options.leaveRunning() || options.preDump() || stopped;
            if (!options.preDump()) {
                scripts.run("post-dump");
            }
            step(keepRunning ? "resume" : "kill", () -> {
                if (keepRunning) {
                    if (stopped && Syscall.raw(Syscall.KILL, pid, WaitStatus.SIGSTOP) < 0) {
                        throw new CryoException("cannot leave pid " + pid + " stopped (-s): kill(SIGSTOP) failed");
                    }
                    resume();
                } else {
                    kill();
                }
            });
            if (late) {
                step("write images", () -> writeImages(dir, images[0]));
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
            incremental.abort();
            resumeQuietly();
            if (!options.preDump()) {
                scripts.runQuietly("network-unlock");
            }
            if (memoryImages != null) {
                try {
                    memoryImages.get(); // nothing is written into the images dir after the dump reports its failure
                } catch (InterruptedException | java.util.concurrent.ExecutionException ignored) {
                    // the dump has failed already; this is only its leftover
                }
            }
            throw e;
        } finally {
            writerJobs.offer(() -> { }); // lets the writer thread end if it was given nothing
        }
    }

    interface Step {
        void run() throws CryoException;
    }

    /** Names a step for the log and for fault injection ({@code -Dcryo.fault.step=NAME} fails it, for tests). */
    private void step(String name, Step s) throws CryoException {
        log.debug("step %s", name);
        if (name.equals(System.getProperty("cryo.fault.step"))) {
            throw new CryoException("cannot dump pid " + pid + ": fault injected at step '" + name + "'");
        }
        String stop = dev.cryo.engine.sys.StopSignals.at(name);
        if (stop != null && !killed) { // once killed, the images are all that is left of the target: finish them
            throw new CryoException("cannot dump pid " + pid + ": Cryo was stopped by " + stop + " before step '" + name
                    + "'; pid " + pid + " was put back as it was and runs on");
        }
        s.run();
    }

    /** What goes into the images, gathered while the target is frozen. */
    record Images(pstree_entry pstree, Map<Integer, core_entry> cores, mm_entry mm, PageMap pagemap, PageBuffer pages,
                  List<fdinfo_entry> fdinfo, fs_entry fs) {
    }

    private dev.cryo.engine.resource.TaskFlags taskFlags;

    private Images collect(FdDumpContext fdCtx) throws CryoException {
        try {
            TaskStatus status = proc.status(pid); // its Threads: line spares listing /proc/PID/task
            if (status.threads() != threads.size()) {
                throw new CryoException("cannot dump pid " + pid + ": it has " + status.threads() + " threads, "
                        + threads.size() + " were frozen (" + unfrozen() + "); try again");
            }
            if (status.seccompMode() != 0) {
                throw new CryoException("cannot dump pid " + pid + ": it entered seccomp mode " + status.seccompMode()
                        + " while being frozen, which Cryo cannot restore yet");
            }
            for (ThreadState t : threads) {
                t.read();
            }
            ThreadState leader = threads.get(0);
            regs = leader.registers();
            log.debug("registers: %s, sigmask %#x, %d threads", regs, leader.sigmask(), threads.size());
            TaskStat stat = proc.stat(pid);
            List<MapsEntry> maps;
            List<vma_entry> vmas;
            String mapsText = proc.mapsText(pid);
            if (preview != null && preview.text().equals(mapsText)) {
                maps = preview.maps();
                vmas = preview.vmas();
            } else {
                // changed since the preview (or none): the mapped files are found again from the frozen maps
                files.clear();
                fileIds.clear();
                shmem.forget(pid);
                maps = smapsOf(mapsText); // VmFlags (madvise) come from smaps
                vmas = new ArrayList<>(maps.size());
                for (MapsEntry m : maps) {
                    vmas.add(vmaEntry(m));
                }
            }
            RemoteMemory memory = new RemoteMemory(pid);

            log.debug("read /proc: %d VMAs", maps.size());
            // the remote part: brk and signal handlers have no other interface
            long site = preview != null && maps == preview.maps() && preview.vdsoSite() >= 0 ? preview.vdsoSite()
                    : SyscallSite.find(memory, maps, regs);
            remote = leader.remote(site); // blocks every signal in it: none may interrupt our syscalls
            long brk = remote.call("brk", Syscall.BRK, 0);
            long caught = status.hex("SigCgt");
            List<sa_entry> actions;
            if (caught != 0 || !options.preDump()) {
                // the handlers' structs at 0, each thread's altstack and tid address at SCRATCH_THREAD
                scratch = RemoteScratch.borrowStack(memory, regs, remote, SCRATCH_THREAD + ThreadState.SCRATCH_BYTES);
            }
            if (caught != 0) {
                actions = Signals.dumpActions(remote, scratch, caught, status.hex("SigIgn"));
            } else {
                actions = Signals.dumpActions(remote, null, 0, status.hex("SigIgn"));
            }
            task_timers_entry timers = null;
            if (!options.preDump()) {
                timers = Timers.dump(pid, remote, scratch); // itimers, alarm, POSIX timers (scratch's first 32 bytes)
                taskFlags = dev.cryo.engine.resource.TaskFlags.dump(remote, scratch); // subreaper, THP, pdeathsig
            }

            log.debug("remote syscalls done (brk %#x)", brk);
            // memory
            long m0 = System.nanoTime();
            mm_entry.Builder mm = mmEntry(stat, brk);
            if (taskFlags != null) {
                taskFlags.into(mm);
            }
            List<PageRun> runs = new ArrayList<>();
            Set<PageRun> unreadable = new HashSet<>();
            mm.addAllVmas(vmas);
            try (PageMapScanner scanner = new PageMapScanner(pid)) {
                for (MapsEntry m : maps) {
                    if (m.isKernelSpecial() || m.shared()) {
                        continue;
                    }
                    pagesScanned += m.pages();
                    List<PageRun> own = scanner.ownPages(m);
                    runs.addAll(own);
                    if (!m.read()) {
                        unreadable.addAll(own);
                    }
                }
            }
            IncrementalDump.MemoryPlan plan = incremental.plan(new dev.cryo.engine.mem.TrackedTarget(pid, remote),
                    maps, runs, unreadable);
            pagesSkippedParent = plan.skipped();
            PageBuffer pages = PageBuffer.forRuns(plan.present());
            pages.readFrom(memory, plan.unreadable());
            pagesWritten = pages.pages();
            memdumpUs = (System.nanoTime() - m0) / 1000;
            log.info("Read %d pages of %d scanned in %d us", pagesWritten, pagesScanned, memdumpUs);
            List<pagemap_entry> pm = plan.entries();
            if (!options.preDump()) {
                // shared objects in full, once each, while frozen (pre-dumps leave them to the final dump)
                shmem.writeImages(dirForWriter, () -> nextPagesId++);
            }

            mm.setExeFileId(fileId(proc.link(pid, "exe"), proc.dir(pid).resolve("exe")));
            for (long a : proc.auxv(pid)) {
                mm.addMmSavedAuxv(a);
            }
            if (options.preDump()) {
                // memory only: the process runs on and a later dump saves the rest
                return new Images(pstree(stat), null, mm.build(), new PageMap(PAGES_ID, pm),
                        pages, null, null);
            }

            // the memory images are final: a second core writes them while the files are collected
            PageMap pagemap = new PageMap(PAGES_ID, pm);
            mm_entry mmImage = mm.build();
            pstree_entry pstree = pstree(stat);
            memoryImages = new java.util.concurrent.FutureTask<>(() -> {
                writeMemoryImages(dirForWriter, pages, mmImage, pagemap, pstree, true);
                return null;
            });
            writerJobs.add(memoryImages);

            // files
            log.debug("memory done");
            List<fdinfo_entry> fdinfo = new ArrayList<>();
            List<FdInfo> fds = proc.fds(pid);
            Map<Integer, Integer> idOfFd = new LinkedHashMap<>();
            for (FdInfo fd : fds) {
                FdKind kind = FdKinds.of(fd).orElseThrow(() -> new CryoException("cannot dump pid " + pid + ": fd "
                        + fd.fd() + " is " + FdKinds.describe(fd)));
                Integer shared = sameDescription(fds, idOfFd, fd);
                int id;
                if (shared != null) {
                    id = shared;
                } else {
                    id = files.size() + 1;
                    files.add(kind.dump(fdCtx, fd, id));
                }
                idOfFd.put(fd.fd(), id);
                fdinfo.add(fdinfo_entry.newBuilder().setId(id).setFd(fd.fd()).setType(kind.type())
                        .setFlags((fd.flags() & RegularFile.O_CLOEXEC) != 0 ? RegularFile.FD_CLOEXEC : 0).build());
            }
            SocketDump.collected(fdCtx, idOfFd, files); // socket queues name passed fds by file id
            shmem.writeImages(dirForWriter, () -> nextPagesId++); // memfds held only as fds, not mapped
            String cwd = proc.link(pid, "cwd");
            String root = proc.link(pid, "root");
            fs_entry fs = fs_entry.newBuilder().setCwdId(fileId(cwd, proc.dir(pid).resolve("cwd")))
                    .setRootId(fileId(root, proc.dir(pid).resolve("root"))).setUmask(status.umask()).build();

            log.debug("files done");
            String comm = proc.comm(pid);
            creds_entry creds = TaskResources.creds(status);
            Map<Integer, core_entry> cores = new LinkedHashMap<>();
            for (ThreadState t : threads) {
                t.readRemote(site, scratch, SCRATCH_THREAD);
                var core = core_entry.newBuilder().setMtype(core_entry.march.X86_64).setThreadInfo(t.threadInfo())
                        .setThreadCore(t.threadCore(creds, t.tid() == pid ? comm : proc.comm(t.tid())));
                if (t.tid() == pid) { // what the threads share is the task's, written once in the leader's core
                    core.setTc(task_core_entry.newBuilder().setTaskState(1).setExitCode(0)
                            .setPersonality(proc.personality(pid)).setFlags(stat.flags()).setBlkSigset(t.sigmask())
                            .setComm(comm).setRlimits(TaskResources.rlimits(pid))
                            .setSignalsS(Signals.dumpQueue(pid, true)).addAllSigactions(actions)
                            .setOomScoreAdj(TaskResources.oomScoreAdj(proc, pid)).setTimers(timers));
                }
                if (t.tid() == pid && taskFlags != null) {
                    taskFlags.into(core);
                }
                cores.put(t.tid(), core.build());
            }
            return new Images(pstree, cores, mmImage, pagemap, pages, fdinfo, fs);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading /proc failed: " + e.getMessage(), e);
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": " + e.getMessage(), e);
        }
    }

    static final int SCRATCH_THREAD = 64;

    private pstree_entry pstree(TaskStat stat) {
        var e = pstree_entry.newBuilder().setPid(pid).setPpid(0).setPgid(stat.pgid()).setSid(stat.sid());
        for (ThreadState t : threads) {
            e.addThreads(t.tid());
        }
        return e.build();
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

    /** Maps as read before the freeze, with their VMA entries and mapped files. */
    private record MapsPreview(String text, List<MapsEntry> maps, List<vma_entry> vmas, long vdsoSite) {
    }

    private MapsPreview preview;

    /**
     * Reads and parses the maps while the target still runs; the frozen maps are then only compared byte for
     * byte with these (any difference and they are read again), which keeps the parsing out of the frozen time.
     */
    private void previewMaps() {
        try {
            String text = proc.mapsText(pid);
            List<MapsEntry> maps = smapsOf(text); // smaps walks page tables: read while the target still runs
            List<vma_entry> vmas = new ArrayList<>(maps.size());
            for (MapsEntry m : maps) {
                vmas.add(vmaEntry(m));
            }
            // the vDSO's code is the kernel's, read-only; same maps after the freeze = same place
            long site;
            try {
                site = SyscallSite.inVdso(new RemoteMemory(pid), maps);
            } catch (SyscallException e) {
                site = -1;
            }
            preview = new MapsPreview(text, maps, vmas, site);
        } catch (IOException | CryoException | RuntimeException e) {
            // the frozen read decides, and reports what it finds
            files.clear();
            fileIds.clear();
            shmem.forget(pid);
            preview = null;
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

    /** The id of an earlier fd with the same open file description (kcmp), or null. */
    private Integer sameDescription(List<FdInfo> fds, Map<Integer, Integer> idOfFd, FdInfo fd) {
        for (FdInfo other : fds) {
            if (other.fd() >= fd.fd()) {
                break;
            }
            if (other.target().equals(fd.target()) && idOfFd.containsKey(other.fd())) {
                long r = Syscall.raw(Syscall.KCMP, pid, pid, 0 /* KCMP_FILE */, other.fd(), fd.fd());
                if (r == 0) {
                    return idOfFd.get(other.fd());
                }
            }
        }
        return null;
    }

    /** A files.img entry for a path the process uses without an fd (exe, mappings, cwd, root). */
    private int fileId(String path, java.nio.file.Path statPath) throws IOException, CryoException {
        Integer id = fileIds.get(path);
        if (id != null) {
            return id;
        }
        int newId = files.size() + 1;
        files.add(RegularFile.mapped(newId, path, statPath, fdCtx)); // a deleted one is kept (DeletedFiles)
        fileIds.put(path, newId);
        return newId;
    }

    /** A files.img entry (type MEMFD) for a mapped memfd, one per memfd and open mode. */
    private int memfdFileId(MapsEntry m, int flags) {
        String key = "memfd " + m.inode() + " " + flags;
        Integer id = fileIds.get(key);
        if (id != null) {
            return id;
        }
        int newId = files.size() + 1;
        String open = proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end())).toString();
        files.add(shmem.memfdFile(pid, m.inode(), m.path(), open, m.start(), m.end(), newId, flags, 0));
        fileIds.put(key, newId);
        return newId;
    }

    private mm_entry.Builder mmEntry(TaskStat s, long brk) {
        return mm_entry.newBuilder().setMmStartCode(s.startCode()).setMmEndCode(s.endCode())
                .setMmStartData(s.startData()).setMmEndData(s.endData()).setMmStartStack(s.startStack())
                .setMmStartBrk(s.startBrk()).setMmBrk(brk).setMmArgStart(s.argStart()).setMmArgEnd(s.argEnd())
                .setMmEnvStart(s.envStart()).setMmEnvEnd(s.envEnd()).setDumpable(dumpable());
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
    static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANON = 0x20, MAP_GROWSDOWN = 0x100;

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
            v.setShmid(fileId(m.path(), proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end()))));
            v.setFdflags(m.shared() && m.write() ? RegularFile.O_RDWR : 0);
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
        long madv = dev.cryo.engine.mem.Madvise.fromVmFlags(m.vmFlags());
        if (madv != 0) {
            v.setMadv(madv);
        }
        return v.setFlags(flags).setStatus(status).build();
    }

    private void writeImages(ImageDir dir, Images img) throws CryoException {
        try {
            if (memoryImages == null) {
                writeMemoryImages(dir, img.pages(), img.mm(), img.pagemap(), img.pstree(), img.cores() != null);
            }
            if (img.cores() != null) {
                for (Map.Entry<Integer, core_entry> c : img.cores().entrySet()) {
                    dir.writeCore(c.getKey(), c.getValue());
                }
                fdCtx.writeImages(dir, files); // ghosts, link remaps, file locks
                dir.writeFiles(files);
                dir.writeFdinfo(IDS, img.fdinfo());
                if (!fdCtx.pipesData().isEmpty()) {
                    dir.writePipesData(fdCtx.pipesData());
                }
                dir.writeFs(pid, img.fs());
                if (memoryImages != null) {
                    awaitMemoryImages();
                }
                log.debug("images written");
                return;
            }
            dir.writeFiles(files);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                    + e.getMessage(), e);
        }
    }

    private final java.util.concurrent.BlockingQueue<Runnable> writerJobs =
            new java.util.concurrent.ArrayBlockingQueue<>(2);
    private java.util.concurrent.FutureTask<Void> memoryImages;
    private ImageDir dirForWriter;

    /** Started before the freeze (a thread start is not free), it runs one job: the memory images. */
    private void startWriter() {
        Thread writer = new Thread(() -> {
            try {
                writerJobs.take().run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "cryo-image-writer");
        writer.setDaemon(true);
        writer.start();
    }

    private void awaitMemoryImages() throws IOException, CryoException {
        try {
            memoryImages.get();
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

    /**
     * Before the freeze: the images that hold nothing of the target's state, inventory always, for a full dump also
     * ids and seccomp (empty: a target in seccomp mode is refused, before the freeze and again frozen). A dump that
     * fails later leaves them beside whatever else it wrote, as CRIU leaves its partial images.
     */
    private void writeStaticImages(ImageDir dir) throws CryoException {
        try {
            dir.writeInventory(inventory_entry.newBuilder().setImgVersion(2).setFdinfoPerId(true)
                    .setRootIds(TaskResources.ids(IDS)).setNsPerId(true).setRootCgSet(1).setLsmtype(lsmtype.NO_LSM)
                    .setNetworkLockMethod(0).setDumpCriuRunId(RunId.next()).build());
            if (!options.preDump()) {
                dir.writeIds(pid, TaskResources.ids(IDS));
                dir.writeSeccomp(seccomp_entry.newBuilder().build());
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing images to " + dir.path() + " failed: "
                    + e.getMessage(), e);
        }
    }

    /**
     * pages, pstree, mm, pagemap: everything that is known once the memory is read; for a full dump also timens
     * (the clocks at the dump).
     */
    private void writeMemoryImages(ImageDir dir, PageBuffer pages, mm_entry mm, PageMap pagemap, pstree_entry pstree,
                                   boolean full) throws IOException {
        long w0 = System.nanoTime();
        {
            pages.writeTo(dir.pagesPath(PAGES_ID), dir.checksumSink(dir.pagesPath(PAGES_ID).getFileName().toString()));
            memwriteUs = (System.nanoTime() - w0) / 1000;
            if (pages.streamed()) {
                // read and written at once: each side's own time (they overlap)
                memdumpUs += pages.streamedRemoteNanos() / 1000;
                memwriteUs = pages.streamedFileNanos() / 1000;
            }
        }
        long w1 = System.nanoTime();
        dir.writePstree(List.of(pstree));
        dir.writeMm(pid, mm);
        long w2 = System.nanoTime();
        dir.writePagemap(pid, pagemap);
        long w3 = System.nanoTime();
        if (full) {
            dir.writeTimens(0, TaskResources.timens());
        }
        log.debug("memory images: pages %d us, pagemap (%d entries) %d us, the others %d us", (w1 - w0) / 1000,
                pagemap.entries().size(), (w3 - w2) / 1000, (System.nanoTime() - w3 + w2 - w1) / 1000);
    }

    /** Puts everything back as it was and lets the target run on. */
    private void resume() throws CryoException {
        SyscallException failed = null;
        int failedTid = 0;
        try {
            if (scratch != null) {
                scratch.release();
                scratch = null;
            }
        } catch (SyscallException e) {
            failed = e;
            failedTid = pid;
        }
        // every thread is let go, even after one failed: none may stay stopped
        for (ThreadState t : threads) {
            try {
                t.putBack();
                // detach (not CONT): the kernel then restarts an interrupted syscall itself
                Ptrace.detach(t.tid(), 0);
            } catch (SyscallException e) {
                if (failed == null) {
                    failed = e;
                    failedTid = t.tid();
                }
            }
        }
        releasedAt = System.nanoTime();
        seized = false;
        if (failed != null) {
            throw new CryoException("pid " + pid + " could not be resumed after the dump (thread " + failedTid + "): "
                    + failed.getMessage(), failed);
        }
        log.info("Resumed pid %d (%d threads)", pid, threads.size());
    }

    private void resumeQuietly() {
        if (!seized) {
            return;
        }
        try {
            resume();
        } catch (CryoException e) {
            log.error("%s", e.getMessage());
        }
    }

    private boolean killed;

    private void kill() throws CryoException {
        try {
            Syscall.call("kill(" + pid + ")", Syscall.KILL, pid, WaitStatus.SIGKILL);
            releasedAt = System.nanoTime();
            // every traced thread is reaped by its tracer, the leader last (its exit is reported once it is alone)
            for (int i = threads.size() - 1; i >= 0; i--) {
                int tid = threads.get(i).tid();
                try {
                    while (true) {
                        WaitStatus st = Ptrace.waitFor(tid);
                        if (!st.stopped()) {
                            break;
                        }
                        Ptrace.cont(tid, 0);
                    }
                } catch (SyscallException e) {
                    if (tid == pid || e.errno() != 10 /* ECHILD: reaped with the group */) {
                        throw e;
                    }
                }
            }
            seized = false;
            killed = true;
            log.info("Killed pid %d", pid);
        } catch (SyscallException e) {
            throw new CryoException("cannot kill pid " + pid + " after the dump: " + e.getMessage(), e);
        }
    }
}
