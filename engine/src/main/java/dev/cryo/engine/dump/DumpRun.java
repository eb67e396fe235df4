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
import dev.cryo.engine.resource.FpuState;
import dev.cryo.engine.resource.RegularFile;
import dev.cryo.engine.resource.Signals;
import dev.cryo.engine.resource.SocketDump;
import dev.cryo.engine.resource.TaskResources;
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
    private Registers regs;
    private long sigmask;
    private boolean sigmaskChanged;
    private RemoteSyscall remote;
    private RemoteScratch scratch;

    // what the dump found
    private final List<file_entry> files = new ArrayList<>();
    private final Map<String, Integer> fileIds = new LinkedHashMap<>();
    private long freezingUs, frozenUs, memdumpUs, memwriteUs;
    private long pagesScanned, pagesWritten;

    private final boolean rehearsal;

    DumpRun(DumpOptions options, Log log) {
        this(options, log, false);
    }

    /** @param rehearsal a dump of Cryo's own helper that only warms the JVM up */
    DumpRun(DumpOptions options, Log log, boolean rehearsal) {
        this.rehearsal = rehearsal;
        this.options = options;
        this.log = log;
        this.pid = options.pid();
    }

    private FdDumpContext fdCtx;
    private long releasedAt;
    private IncrementalDump incremental = IncrementalDump.none();
    private long pagesSkippedParent;

    void run() throws CryoException {
        try {
            runSteps();
        } catch (CryoException | RuntimeException e) {
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
                    .setPagesLazy(0)).build());
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
        long t0 = System.nanoTime();
        step("freeze", () -> {
            try {
                Tracers.freeze(proc, pid);
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
            Images[] images = new Images[1];
            step("collect", () -> images[0] = collect(fdCtx));
            boolean late = options.preDump() && incremental.pagesAfterResume(); // tracking covers what runs on
            if (!late) {
                step("write images", () -> writeImages(dir, images[0]));
            }
            if (incremental.active()) {
                step("track memory", () -> incremental.finish(dir, new dev.cryo.engine.mem.TrackedTarget(pid, remote)));
            }
            boolean keepRunning = options.leaveRunning() || options.preDump();
            step(keepRunning ? "resume" : "kill", () -> {
                if (keepRunning) {
                    resume();
                } else {
                    kill();
                }
            });
            if (late) {
                step("write images", () -> writeImages(dir, images[0]));
            }
            SocketDump.release(fdCtx, true);
        } catch (CryoException | RuntimeException e) {
            log.error("%s", e.getMessage());
            SocketDump.release(fdCtx, false);
            incremental.abort();
            resumeQuietly();
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
    record Images(pstree_entry pstree, core_entry core, mm_entry mm, PageMap pagemap, PageBuffer pages,
                  List<fdinfo_entry> fdinfo, fs_entry fs) {
    }

    private Images collect(FdDumpContext fdCtx) throws CryoException {
        try {
            TaskStatus status = proc.status(pid); // its Threads: line spares listing /proc/PID/task
            if (status.threads() != 1) {
                throw new CryoException("cannot dump pid " + pid + ": it started a thread while being frozen");
            }
            if (status.seccompMode() != 0) {
                throw new CryoException("cannot dump pid " + pid + ": it entered seccomp mode " + status.seccompMode()
                        + " while being frozen, which Cryo cannot restore yet");
            }
            regs = Ptrace.registers(pid);
            sigmask = Ptrace.sigmask(pid);
            log.debug("registers: %s, sigmask %#x", regs, sigmask);
            byte[] xstate = Ptrace.xstate(pid);
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
                maps = ProcFs.parseMaps(mapsText);
                vmas = new ArrayList<>(maps.size());
                for (MapsEntry m : maps) {
                    vmas.add(vmaEntry(m));
                }
            }
            RemoteMemory memory = new RemoteMemory(pid);

            log.debug("read /proc: %d VMAs", maps.size());
            // the remote part: brk and signal handlers have no other interface
            Ptrace.setSigmask(pid, -1L); // no signal may interrupt our syscalls
            sigmaskChanged = true;
            long site = preview != null && maps == preview.maps() && preview.vdsoSite() >= 0 ? preview.vdsoSite()
                    : SyscallSite.find(memory, maps, regs);
            remote = new RemoteSyscall(pid, site, regs);
            long brk = remote.call("brk", Syscall.BRK, 0);
            long caught = status.hex("SigCgt");
            List<sa_entry> actions;
            if (caught != 0) {
                scratch = RemoteScratch.borrowStack(memory, regs, remote, 64);
                actions = Signals.dumpActions(remote, scratch, caught, status.hex("SigIgn"));
            } else {
                actions = Signals.dumpActions(remote, null, 0, status.hex("SigIgn"));
            }

            log.debug("remote syscalls done (brk %#x)", brk);
            // memory
            long m0 = System.nanoTime();
            mm_entry.Builder mm = mmEntry(stat, brk);
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

            mm.setExeFileId(fileId(proc.link(pid, "exe"), proc.dir(pid).resolve("exe")));
            for (long a : proc.auxv(pid)) {
                mm.addMmSavedAuxv(a);
            }
            if (options.preDump()) {
                // memory only: the process runs on and a later dump saves the rest
                return new Images(pstree_entry.newBuilder().setPid(pid).setPpid(0).setPgid(stat.pgid())
                        .setSid(stat.sid()).addThreads(pid).build(), null, mm.build(), new PageMap(PAGES_ID, pm),
                        pages, null, null);
            }

            // the memory images are final: a second core writes them while the files are collected
            PageMap pagemap = new PageMap(PAGES_ID, pm);
            mm_entry mmImage = mm.build();
            pstree_entry pstree = pstree_entry.newBuilder().setPid(pid).setPpid(0).setPgid(stat.pgid())
                    .setSid(stat.sid()).addThreads(pid).build();
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
            String cwd = proc.link(pid, "cwd");
            String root = proc.link(pid, "root");
            fs_entry fs = fs_entry.newBuilder().setCwdId(fileId(cwd, proc.dir(pid).resolve("cwd")))
                    .setRootId(fileId(root, proc.dir(pid).resolve("root"))).setUmask(status.umask()).build();

            log.debug("files done");
            String comm = proc.comm(pid);
            core_entry core = core_entry.newBuilder().setMtype(core_entry.march.X86_64)
                    .setThreadInfo(thread_info_x86.newBuilder().setClearTidAddr(0)
                            .setGpregs(gpregsOf(regs)).setFpregs(FpuState.toImage(xstate)))
                    .setTc(task_core_entry.newBuilder().setTaskState(1).setExitCode(0)
                            .setPersonality(proc.personality(pid)).setFlags(stat.flags()).setBlkSigset(sigmask)
                            .setComm(comm).setRlimits(TaskResources.rlimits(pid))
                            .setSignalsS(Signals.dumpQueue(pid, true)).addAllSigactions(actions)
                            .setOomScoreAdj(TaskResources.oomScoreAdj(proc, pid)))
                    .setThreadCore(TaskResources.threadCore(pid, comm, status, sigmask))
                    .build();
            return new Images(pstree, core, mmImage, pagemap, pages, fdinfo, fs);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading /proc failed: " + e.getMessage(), e);
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": " + e.getMessage(), e);
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
            List<MapsEntry> maps = ProcFs.parseMaps(text);
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
            preview = null;
        }
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
    private int fileId(String path, java.nio.file.Path statPath) throws IOException {
        Integer id = fileIds.get(path);
        if (id != null) {
            return id;
        }
        int newId = files.size() + 1;
        files.add(RegularFile.mapped(newId, path, statPath));
        fileIds.put(path, newId);
        return newId;
    }

    private mm_entry.Builder mmEntry(TaskStat s, long brk) {
        return mm_entry.newBuilder().setMmStartCode(s.startCode()).setMmEndCode(s.endCode())
                .setMmStartData(s.startData()).setMmEndData(s.endData()).setMmStartStack(s.startStack())
                .setMmStartBrk(s.startBrk()).setMmBrk(brk).setMmArgStart(s.argStart()).setMmArgEnd(s.argEnd())
                .setMmEnvStart(s.envStart()).setMmEnvEnd(s.envEnd()).setDumpable(1);
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
        } else if (m.fileBacked()) {
            if (m.path().endsWith(" (deleted)")) {
                throw new CryoException("cannot dump pid " + pid + ": it maps the deleted file " + m.path()
                        + ", which Cryo cannot dump yet");
            }
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
        return v.setFlags(flags).setStatus(status).build();
    }

    static user_x86_regs_entry gpregsOf(Registers r) {
        return user_x86_regs_entry.newBuilder().setR15(r.get(Registers.R15)).setR14(r.get(Registers.R14))
                .setR13(r.get(Registers.R13)).setR12(r.get(Registers.R12)).setBp(r.get(Registers.RBP))
                .setBx(r.get(Registers.RBX)).setR11(r.get(Registers.R11)).setR10(r.get(Registers.R10))
                .setR9(r.get(Registers.R9)).setR8(r.get(Registers.R8)).setAx(r.get(Registers.RAX))
                .setCx(r.get(Registers.RCX)).setDx(r.get(Registers.RDX)).setSi(r.get(Registers.RSI))
                .setDi(r.get(Registers.RDI)).setOrigAx(r.get(Registers.ORIG_RAX)).setIp(r.get(Registers.RIP))
                .setCs(r.get(Registers.CS)).setFlags(r.get(Registers.EFLAGS)).setSp(r.get(Registers.RSP))
                .setSs(r.get(Registers.SS)).setFsBase(r.get(Registers.FS_BASE)).setGsBase(r.get(Registers.GS_BASE))
                .setDs(r.get(Registers.DS)).setEs(r.get(Registers.ES)).setFs(r.get(Registers.FS))
                .setGs(r.get(Registers.GS)).setMode(user_x86_regs_mode.NATIVE).build();
    }

    private void writeImages(ImageDir dir, Images img) throws CryoException {
        try {
            if (memoryImages == null) {
                writeMemoryImages(dir, img.pages(), img.mm(), img.pagemap(), img.pstree(), img.core() != null);
            }
            if (img.core() != null) {
                dir.writeCore(pid, img.core());
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
        try {
            if (scratch != null) {
                scratch.release();
                scratch = null;
            }
            if (regs != null) {
                Ptrace.setRegisters(pid, regs);
            }
            if (sigmaskChanged) {
                Ptrace.setSigmask(pid, sigmask);
            }
            // detach (not CONT): the kernel then restarts an interrupted syscall itself
            Ptrace.detach(pid, 0);
            releasedAt = System.nanoTime();
            seized = false;
            log.info("Resumed pid %d", pid);
        } catch (SyscallException e) {
            throw new CryoException("pid " + pid + " could not be resumed after the dump: " + e.getMessage(), e);
        }
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
            while (true) {
                WaitStatus st = Ptrace.waitFor(pid);
                if (!st.stopped()) {
                    break;
                }
                Ptrace.cont(pid, 0);
            }
            seized = false;
            killed = true;
            log.info("Killed pid %d", pid);
        } catch (SyscallException e) {
            throw new CryoException("cannot kill pid " + pid + " after the dump: " + e.getMessage(), e);
        }
    }
}
