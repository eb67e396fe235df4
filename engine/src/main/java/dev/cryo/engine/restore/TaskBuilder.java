package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageInstaller;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.PageSource;
import dev.cryo.engine.mem.Ranges;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.mem.UffdCopy;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.HelperProcess;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.resource.FdKind;
import dev.cryo.engine.resource.FdKinds;
import dev.cryo.engine.resource.Timers;
import dev.cryo.engine.resource.FdRestoreContext;
import dev.cryo.engine.resource.FpuState;
import dev.cryo.engine.resource.RegularFile;
import dev.cryo.engine.resource.SharedFiles;
import dev.cryo.engine.resource.SharedMemory;
import dev.cryo.engine.resource.Signals;
import dev.cryo.engine.resource.SocketRestore;
import dev.cryo.engine.resource.TaskRestore;
import dev.cryo.engine.resource.ThreadState;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
/**
 * One task of the tree while the restore makes it its image: memory, files, threads, signals, credentials
 * ({@link #build}), then its SIGCHLDs from the restore dropped, the scratch page gone and its registers set
 * ({@link #ready}), then it runs ({@link #resume}). Runs on the tracer thread. The task exists already (forked
 * by the plan) and is in a ptrace stop; it still holds its creator's memory until {@link #build}.
 */
final class TaskBuilder {
    static final int SCRATCH_SIZE = 3 * 4096, SCRATCH_STRUCTS = 4096, SCRATCH_AUXV = 8192;
    static final int VMA_AREA_VSYSCALL = 1 << 2, VMA_AREA_VDSO = HostCompatibility.VMA_AREA_VDSO,
            VMA_AREA_VVAR = HostCompatibility.VMA_AREA_VVAR;
    static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANON = 0x20, MAP_GROWSDOWN = 0x100,
            MAP_NORESERVE = 0x4000;
    /** The mmap flags a VMA is made with, which two VMAs must share to be one in the kernel's eyes. */
    static final int MAP_KIND = MAP_SHARED | MAP_PRIVATE | MAP_GROWSDOWN | MAP_NORESERVE;
    static final int PR_SET_MM = 35, PR_SET_MM_MAP = 14, MADV_DONTNEED = 4;

    private final RestoreOptions options;
    private final Log log;
    private final ProcFs proc = new ProcFs();
    private final ImageDir dir;
    /** The task's pid in the images (inside its container, for a container's). */
    private final int pid;
    /** The task's pid as Cryo sees it: {@link #pid}, except in a container (known once the task is made). */
    private int host;
    /** A container's, to check files before its mounts exist; null otherwise. */
    private final ContainerRestore container;
    private final Image img;
    private final Pages pages;
    private final SharedMemory.Restore shmem;
    /** The restore's fd state, one map for every task: what tasks share (pipes, sockets, descriptions) is met once. */
    private final Map<Object, Object> fdState;
    private final Map<Integer, byte[]> pipesData;

    private RemoteSyscall remote;
    private RemoteScratch scratch;
    private FdRestoreContext fdCtx;
    private long pagesRestored, pagesCompared, pagesSkippedCow;
    private final Map<Integer, RemoteSyscall> inThread = new LinkedHashMap<>();
    /** Each thread's tid as Cryo sees it, by its tid in the images. */
    private final Map<Integer, Integer> threadHost = new HashMap<>();

    /** The task image, read and checked before anything runs. */
    record Image(pstree_entry pstree, core_entry core, Map<Integer, core_entry> threads, mm_entry mm, PageMap pagemap, List<file_entry> files,
                 List<fdinfo_entry> fdinfo, fs_entry fs, task_kobj_ids_entry ids) {
        file_entry file(int id) throws CryoException {
            return files.stream().filter(f -> f.getId() == id).findFirst()
                    .orElseThrow(() -> new CryoException("images are inconsistent: no file with id " + id + " in files.img"));
        }

        /** The entry of {@code id} of that type: CRIU writes a terminal's REG entry with its TTY entry's id. */
        file_entry file(int id, fd_types type) throws CryoException {
            return files.stream().filter(f -> f.getId() == id && f.getType() == type).findFirst().orElse(file(id));
        }
    }

    /**
     * The pages to restore and where they come from: a pages image (opened, not read yet), or a buffer holding
     * an incremental chain's pages, gathered from several images. The buffer is kept reachable until released.
     */
    record Pages(List<PageRun> runs, long bytes, PageSource source, PageBuffer buffer) {
        void release() {
            source.close();
        }
    }

    /**
     * A live or stopped task's images: core-PID (+ core-TID per thread), mm-PID, pagemap-PID, ids-PID (its
     * files_id names fdinfo-ID), fs-PID; files.img is the tree's, read once by the caller.
     */
    static Image load(ImageDir dir, pstree_entry e, core_entry core, List<file_entry> files) throws CryoException {
        int p = e.getPid();
        String where = "cannot restore pid " + p + " from " + dir.path() + ": ";
        String current = "core-" + p + ".img";
        try {
            if (core.getMtype() != core_entry.march.X86_64 || !core.hasThreadInfo() || !core.hasTc()) {
                throw new CryoException(where + current + " is not an x86_64 task");
            }
            Map<Integer, core_entry> threads = new LinkedHashMap<>(); // the leader's own thread is not one of them
            for (int tid : e.getThreadsList()) {
                if (tid == p) {
                    continue;
                }
                current = "core-" + tid + ".img";
                core_entry tc = dir.core(tid);
                if (tc.getMtype() != core_entry.march.X86_64 || !tc.hasThreadInfo() || !tc.hasThreadCore()) {
                    throw new CryoException(where + current + " is not an x86_64 thread");
                }
                threads.put(tid, tc);
            }
            current = "mm-" + p + ".img";
            mm_entry mm = dir.mm(p);
            current = "pagemap-" + p + ".img";
            PageMap pm = dir.pagemap(p);
            current = "ids-" + p + ".img";
            task_kobj_ids_entry ids = dir.ids(p);
            current = "fdinfo-" + ids.getFilesId() + ".img";
            List<fdinfo_entry> fdinfo = dir.fdinfo(ids.getFilesId());
            current = "fs-" + p + ".img";
            fs_entry fs = dir.fs(p);
            return new Image(e, core, threads, mm, pm, files, fdinfo, fs, ids);
        } catch (IOException | RuntimeException ex) {
            String why = ex instanceof java.nio.file.NoSuchFileException ? "it is missing" : ex.getMessage();
            throw new CryoException(where + "cannot read " + current + ": " + why, ex);
        }
    }

    /**
     * Reads what the task needs and checks that its files are there, before any task of the tree is made.
     */
    TaskBuilder(Image img, ImageDir dir, SharedMemory.Restore shmem, Map<Object, Object> fdState,
                Map<Integer, byte[]> pipesData, RestoreOptions options, Log log, ContainerRestore container)
            throws CryoException {
        this.pipesData = pipesData;
        this.img = img;
        this.pid = img.pstree().getPid();
        this.host = pid;
        this.container = container;
        this.dir = dir;
        this.shmem = shmem;
        this.fdState = fdState;
        this.options = options;
        this.log = log;
        precheckFiles(img);
        shmem.check(pid, img.mm().getVmasList());
        this.pages = loadPages(img);
    }

    int pid() {
        return pid;
    }

    /** Where its cgroups are put back; null: nowhere (it stays in Cryo's). */
    private dev.cryo.engine.resource.Cgroups.Restore cgroups;

    void cgroups(dev.cryo.engine.resource.Cgroups.Restore cgroups) {
        this.cgroups = cgroups;
    }

    /** Its threads' seccomp state and no_new_privs, checked against seccomp.img; null: none to give back. */
    private dev.cryo.engine.resource.Seccomp.Task seccomp;

    void seccomp(dev.cryo.engine.resource.Seccomp.Task plan) {
        this.seccomp = plan;
    }

    /** The task's threads as the engine sees them: the task itself, then each thread it was given. */
    List<Integer> hostTids() {
        List<Integer> tids = new ArrayList<>(1 + inThread.size());
        tids.add(host);
        inThread.values().forEach(r -> tids.add(r.pid()));
        return tids;
    }

    /** The task as Cryo sees it, once made (a container's tasks have other pids inside). */
    void host(int hostPid) {
        this.host = hostPid;
    }

    Image image() {
        return img;
    }

    /** The build's remote calls and scratch page, once {@link #buildMemory} has made them. */
    RemoteSyscall remote() {
        return remote;
    }

    RemoteScratch scratch() {
        return scratch;
    }

    /** Thread ids made so far (the leader not among them), for the clean-up of a failed restore. */
    List<Integer> threadsMade() {
        return List.copyOf(threadsMade);
    }

    /** Pages the build wrote. */
    long pagesRestored() {
        return pagesRestored;
    }

    /** Pages of the image compared with those the task inherited from its creator, and those found the same. */
    long pagesCompared() {
        return pagesCompared;
    }

    long pagesSkippedCow() {
        return pagesSkippedCow;
    }

    /**
     * The task that forked this one once its own memory was built ({@link #buildMemory} ran before the fork), so
     * that this one starts with that memory: the VMAs both images have alike are kept, with the pages the two
     * tasks shared copy-on-write at the dump still shared. Null: the task starts from memory it keeps nothing of.
     */
    private TaskBuilder creatorBuilt;

    void inheritFrom(TaskBuilder creator) {
        this.creatorBuilt = creator;
    }

    /**
     * Whether a child forked by this task would keep some of its memory, were this task's built first: a private
     * VMA with pages in both images, alike in both ({@link #alike}). Read from the images alone.
     */
    boolean sharesPagesWith(TaskBuilder child) {
        Map<Long, vma_entry> mine = withPages();
        for (vma_entry v : child.withPages().values()) {
            if (alike(mine.get(v.getStart()), v)) {
                return true;
            }
        }
        return false;
    }

    /** The image's VMAs that have pages, by start: worked out once (a parent is asked once for each child). */
    private Map<Long, vma_entry> withPages;

    private Map<Long, vma_entry> withPages() {
        if (withPages == null) {
            List<vma_entry> all = img.mm().getVmasList().stream().filter(v -> !isKernelVma(v)).toList();
            withPages = new HashMap<>();
            for (int i : vmasWithPages(all, pages.runs())) {
                withPages.put(all.get(i).getStart(), all.get(i));
            }
        }
        return withPages;
    }

    /**
     * Whether a VMA {@code mine} of the creator, inherited by a child, is the child's {@code v} as it stands: the
     * same range, protections, flags, kind and backing (file and offset), and a kind whose pages a fork shares
     * copy-on-write (private; not a stack, whose guard the build places; not SysV, shared, memfd or an AIO ring).
     */
    static boolean alike(vma_entry mine, vma_entry v) {
        return mine != null && mine.getStart() == v.getStart() && mine.getEnd() == v.getEnd()
                && mine.getProt() == v.getProt() && mine.getFlags() == v.getFlags()
                && mine.getStatus() == v.getStatus() && mine.getShmid() == v.getShmid()
                && mine.getPgoff() == v.getPgoff()
                && (v.getFlags() & (MAP_SHARED | MAP_PRIVATE | MAP_GROWSDOWN)) == MAP_PRIVATE
                && !isKernelVma(v) && !dev.cryo.engine.resource.AioRings.isAioRing(v) && !SharedMemory.isSysv(v)
                && !SharedMemory.isAnonShared(v) && !SharedMemory.isMemfd(v);
    }

    /**
     * The VMAs (indexes into {@link #vmas}) the task keeps from its creator: those with pages that the creator's
     * image has {@link #alike} and with pages too (it was built from them, so it holds them), which the task holds
     * ({@code cmaps}: inside one mapping, which may be wider: the creator's VMAs are all writable while built, and
     * the kernel joins a file's neighbours that differ only in their final protections, split again later).
     */
    private Set<Integer> keptFromCreator(List<MapsEntry> cmaps) {
        if (creatorBuilt == null || "false".equals(System.getProperty("cryo.restore.cow"))
                || !inOrder(creatorBuilt.pages.runs())) {
            return Set.of(); // (runs naming a page twice: which copy the creator holds is not worth working out)
        }
        Map<Long, vma_entry> theirs = new HashMap<>();
        for (int i : creatorBuilt.filled) {
            vma_entry v = creatorBuilt.vmas.get(i);
            theirs.put(v.getStart(), v);
        }
        java.util.TreeMap<Long, Long> held = new java.util.TreeMap<>();
        for (MapsEntry m : cmaps) {
            held.put(m.start(), m.end());
        }
        Set<Integer> out = new java.util.TreeSet<>();
        for (int i : filled) {
            vma_entry v = vmas.get(i);
            var in = held.floorEntry(v.getStart());
            if (in != null && in.getValue() >= v.getEnd() && alike(theirs.get(v.getStart()), v)) {
                out.add(i);
            }
        }
        return out;
    }

    /** Whether the runs are in address order, none over another. */
    private static boolean inOrder(List<PageRun> runs) {
        for (int i = 1; i < runs.size(); i++) {
            if (runs.get(i).address() < runs.get(i - 1).end()) {
                return false;
            }
        }
        return true;
    }

    /** The kept VMAs' addresses, sorted, touching ones joined. */
    private List<long[]> keptRanges() {
        List<long[]> out = new ArrayList<>();
        for (int i : kept) {
            out.add(new long[]{vmas.get(i).getStart(), vmas.get(i).getEnd()});
        }
        return Ranges.union(out);
    }

    /**
     * Within the kept VMAs, the pages the creator was given and this task's image does not name: the task must not
     * have them (an anonymous page it never touched is zero; a private file page is the file's), so they are
     * dropped with MADV_DONTNEED. Sorted, disjoint [start, end) ranges.
     */
    private List<long[]> creatorOnlyPages(List<long[]> keptRanges) {
        List<long[]> theirs = new ArrayList<>(), mine = new ArrayList<>();
        for (PageRun r : creatorBuilt.pages.runs()) {
            theirs.add(new long[]{r.address(), r.end()});
        }
        for (PageRun r : pages.runs()) {
            mine.add(new long[]{r.address(), r.end()});
        }
        return Ranges.minus(Ranges.intersect(Ranges.union(theirs), keptRanges), Ranges.union(mine));
    }

    /** The pages source goes (a failed or finished restore). */
    void release() {
        pages.release();
    }

    /** fdState's key of the file ids {@link #precheckFiles} has checked in this restore. */
    private static final Object CHECKED_FILES = new Object();

    /** Files must be there before a task is made, so that a missing one leaves nothing behind. */
    private void precheckFiles(Image img) throws CryoException {
        // files.img is the tree's: an id names one file for every task, checked once (a build-id is read from it)
        @SuppressWarnings("unchecked")
        Set<Integer> checked = (Set<Integer>) fdState.computeIfAbsent(CHECKED_FILES, k -> new HashSet<Integer>());
        for (vma_entry v : img.mm().getVmasList()) {
            if (isFileVma(v) && !SharedMemory.isMemfd(v) && checked.add((int) v.getShmid())) {
                verify(img.file((int) v.getShmid()).getReg());
            }
        }
        if (checked.add((int) img.mm().getExeFileId())) {
            verify(img.file(img.mm().getExeFileId()).getReg());
        }
        for (fdinfo_entry fd : img.fdinfo()) {
            if (FdKinds.of(fd.getType()).isEmpty()) {
                throw new CryoException("cannot restore pid " + pid + ": fd " + fd.getFd() + " is of type "
                        + fd.getType() + ", which Cryo cannot restore yet");
            }
        }
        for (int id : List.of(img.fs().getCwdId(), img.fs().getRootId())) {
            String path = img.file(id).getReg().getName();
            Path seen = container == null ? Path.of(path) : container.hostPath(path);
            if (seen != null && !Files.isDirectory(seen)) {
                throw new CryoException("cannot restore pid " + pid + ": directory " + path + " is missing");
            }
        }
    }

    /**
     * A file the task maps, checked where it is now: a container's files under its root or external mounts (one on
     * a mount the restore makes is checked when opened).
     */
    private void verify(reg_file_entry reg) throws CryoException {
        String validation = options.files().fileValidation();
        if (container == null) {
            RegularFile.verify(pid, reg, validation);
            return;
        }
        Path seen = container.hostPath(reg.getName());
        if (seen != null) {
            RegularFile.verify(pid, reg.toBuilder().setName(seen.toString()).build(), validation);
        }
    }

    static boolean isFileVma(vma_entry v) {
        return (v.getStatus() & ((1 << 6) | (1 << 7))) != 0;
    }

    static boolean isKernelVma(vma_entry v) {
        return (v.getStatus() & (VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL)) != 0;
    }

    private Pages loadPages(Image img) throws CryoException {
        List<PageRun> runs = new ArrayList<>();
        for (PageMap.PageRun r : img.pagemap().runs()) {
            if (r.inParent()) {
                try {
                    // an incremental dump: the chain of parents holds the rest
                    PageBuffer b = dev.cryo.engine.mem.ChainPages.load(dir, img.pagemap(), pid);
                    return new Pages(b.runs(), b.bytes(), PageSource.inMemory(b.address()), b);
                } catch (IOException | RuntimeException e) {
                    throw new CryoException("cannot restore pid " + pid + ": cannot read pages from the parent chain of "
                            + dir.path() + ": " + e.getMessage(), e);
                }
            }
            runs.add(new PageRun(r.vaddr(), (int) r.nrPages()));
        }
        long bytes = 0;
        for (PageRun r : runs) {
            bytes += r.bytes();
        }
        Path file = dir.pagesPath(img.pagemap().pagesId());
        try {
            long size = Files.size(file);
            if (size < bytes) {
                throw new CryoException("cannot restore pid " + pid + ": " + file.getFileName() + " holds " + size
                        + " bytes, but its pagemap needs " + bytes);
            }
            return new Pages(runs, bytes, PageSource.file(file), null);
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": cannot read " + file.getFileName() + ": "
                    + e.getMessage(), e);
        }
    }

    static final long CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800,
            CLONE_THREAD = 0x10000, CLONE_SYSVSEM = 0x40000;
    private final List<Integer> threadsMade = new ArrayList<>();

    /**
     * A thread with the image's tid, made by a remote clone3 in the leader. It stops before it runs a user
     * instruction (the leader is traced with PTRACE_O_TRACECLONE), so it needs no stack: its registers are set
     * before it ever runs. It starts with the leader's mask, which blocks every signal.
     *
     * @return remote syscalls in the new thread
     */
    private RemoteSyscall cloneThread(int tid) throws SyscallException, CryoException {
        NativeBuffer args = NativeBuffer.allocate(96);
        args.zero(0, 96);
        args.putLong(0, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM);
        args.putLong(32, 0); // exit_signal: a thread has none
        args.putLong(64, scratch.address() + SCRATCH_STRUCTS + 88); // set_tid
        args.putLong(72, 1); // set_tid_size
        args.putLong(88, tid);
        scratch.write(SCRATCH_STRUCTS, args.bytes(0, 96));
        long r = remote.raw(Syscall.CLONE3, scratch.address() + SCRATCH_STRUCTS, 88);
        if (r == -17) {
            throw new CryoException("cannot restore pid " + pid + ": thread id " + tid + " is taken (clone3: File exists)");
        }
        if (r < 0) {
            throw new CryoException("cannot restore pid " + pid + ": clone3 of thread " + tid + " failed: "
                    + SyscallException.describe((int) -r));
        }
        int seen = remote.lastChild() > 0 ? remote.lastChild() : (int) r; // the tid Cryo sees (a container's differs)
        threadsMade.add(seen);
        if (r != tid) {
            throw new CryoException("cannot restore pid " + pid + ": thread " + tid + " came back as " + r);
        }
        threadHost.put(tid, seen);
        WaitStatus st = Ptrace.waitFor(seen);
        if (!st.stopped()) {
            throw new CryoException("cannot restore pid " + pid + ": new thread " + tid + " " + st
                    + " before it could be built");
        }
        return new RemoteSyscall(seen, remote.site(), Ptrace.registers(seen));
    }

    private boolean stepCalls;

    /** Whether the calls that build the task may be stepped over until it gets its own signal state. */
    void stepCalls(boolean on) {
        stepCalls = on;
    }

    /**
     * The task becomes its image: memory, files, threads, signals, credentials. It keeps its scratch page and
     * every signal blocked until {@link #ready}. {@code shared}: the file ids that other tasks hold too.
     */
    void build(SharedFiles shared) throws CryoException {
        buildMemory(null);
        buildRest(shared);
    }

    /** The steps' times of a build under way, from {@link #buildMemory} to the end of {@link #buildRest}. */
    private StepTimes stepTimes;
    /** What {@link #buildMemory} leaves to {@link #buildRest}: the task's memory, its VMAs, those that get pages. */
    private RemoteMemory memory;
    private List<vma_entry> vmas;
    private Set<Integer> filled;
    /** Those of {@link #vmas} kept from the creator, their pages compared instead of written over. */
    private Set<Integer> kept = Set.of();
    /** Their addresses ({@link #keptRanges()}). */
    private List<long[]> keptRanges = List.of();
    /** The pages being written on the restore's page writer; null when they went in on this thread. */
    private java.util.concurrent.Future<Void> pagesWritten;

    /**
     * The first half of {@link #build}: the task's mappings made, and its pages written, or handed to {@code
     * writer} (process_vm_writev and UFFDIO_COPY need no ptrace stop: another thread writes them while the
     * tracer builds other tasks). Null: written here. {@link #buildRest} follows, on this thread.
     */
    void buildMemory(java.util.concurrent.ExecutorService writer) throws CryoException {
        stepTimes = new StepTimes("prepare");
        String step = "prepare";
        try {
            if (cgroups != null) {
                // before its memory is filled: the pages are charged to the cgroup it is in when they are written
                cgroups.join(pid, host, img.core().getTc().getCgSet());
            }
            Registers cr = Ptrace.registers(host);
            memory = new RemoteMemory(host);
            List<MapsEntry> cmaps = proc.fastMaps(host); // the helper's: no VmFlags needed, no page walk
            remote = new RemoteSyscall(host, SyscallSite.find(memory, cmaps, cr), cr);
            remote.stepCalls(stepCalls); // until its own handlers and signals: see "signals"
            Ptrace.setSigmask(host, -1L);

            step = stepTimes.next("rseq unregister");
            Ptrace.RseqConfig rseq = Ptrace.rseqConfiguration(host);
            if (rseq != null && rseq.abiPointer() != 0) {
                // inherited from the helper; must go before its memory does
                remote.call("rseq unregister", Syscall.RSEQ, rseq.abiPointer(), rseq.abiSize(), 1, rseq.signature());
            }

            vmas = img.mm().getVmasList().stream().filter(v -> !isKernelVma(v)).toList();
            filled = vmasWithPages(vmas, pages.runs());
            kept = keptFromCreator(cmaps);
            keptRanges = keptRanges();

            step = stepTimes.next("scratch");
            List<long[]> busy = new ArrayList<>();
            for (MapsEntry m : cmaps) {
                busy.add(new long[]{m.start(), m.end()});
            }
            for (vma_entry v : img.mm().getVmasList()) {
                busy.add(new long[]{v.getStart(), v.getEnd()});
            }
            long scratchAt = gap(busy, SCRATCH_SIZE);
            scratch = RemoteScratch.map(memory, remote, scratchAt, SCRATCH_SIZE);
            // taken from here on: the vDSO's way through a free place (an overlapping move) must not land on it
            busy.add(new long[]{scratch.address(), scratch.address() + scratch.size()});

            step = stepTimes.next("unmap helper memory");
            long[] block = vdsoBlock(cmaps);
            for (long[] r : Ranges.minus(helperRanges(cmaps, scratch.address(), scratch.address() + scratch.size()),
                    keptRanges)) {
                remote.call("munmap " + Long.toHexString(r[0]) + "-" + Long.toHexString(r[1]), Syscall.MUNMAP, r[0],
                        r[1] - r[0]);
            }

            step = stepTimes.next("move vdso");
            moveVdso(img, block, vdsoPieces(cmaps), busy);

            step = stepTimes.next("map memory");
            if (!kept.isEmpty()) {
                for (long[] r : creatorOnlyPages(keptRanges)) {
                    remote.call("madvise(MADV_DONTNEED) " + Long.toHexString(r[0]), Syscall.MADVISE, r[0], r[1] - r[0],
                            MADV_DONTNEED);
                }
                StringBuilder ranges = new StringBuilder();
                for (long[] r : keptRanges) {
                    ranges.append(String.format(" %x-%x", r[0], r[1]));
                }
                log.debug("pid %d keeps %d VMAs of pid %d's memory, its pages shared until they differ:%s", pid,
                        kept.size(), creatorBuilt.pid, ranges);
            }
            Map<Integer, Integer> fileFds = new HashMap<>();
            boolean moved = false;
            try (VmaSeparator separator = new VmaSeparator(busy)) {
                for (int i = 0; i < vmas.size(); i++) {
                    vma_entry v = vmas.get(i);
                    if (kept.contains(i)) {
                        moved = true; // a VMA a fork copied merges with no fresh neighbour: none needs moving
                        continue;
                    }
                    // every other one of a row of mergeable neighbours is enough: each border then has a moved side
                    moved = !moved && i > 0 && mergesWithPrevious(vmas.get(i - 1), v)
                            && separator.map(v, filled.contains(i));
                    if (!moved) {
                        mapVma(img, v, filled.contains(i), fileFds);
                    }
                }
            }
            for (int fd : fileFds.values()) {
                remote.call("close", Syscall.CLOSE, fd);
            }
            shmem.doneWith(remote);

            step = stepTimes.next("write pages");
            UffdCopy uffd = usesUffd() ? openUffd() : null; // made by the task itself: on the tracer
            if (writer == null) {
                writePages(pages, vmas, filled, memory, uffd);
            } else {
                pagesWritten = writer.submit(() -> {
                    try {
                        writePages(pages, vmas, filled, memory, uffd);
                    } catch (SyscallException | IOException e) {
                        throw new CryoException("cannot restore pid " + pid + ": step 'write pages' failed: "
                                + e.getMessage(), e);
                    }
                    return null;
                });
            }
        } catch (SyscallException | IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": step '" + step + "' failed: " + e.getMessage(), e);
        }
    }

    /**
     * The second half of {@link #build}, once {@link #buildMemory} has run, maybe with other tasks' builds between:
     * the pages written (awaited), then the protections and advice that needed them, files, threads, signals,
     * credentials.
     */
    void buildRest(SharedFiles shared) throws CryoException {
        String step = stepTimes.next("await pages");
        try {
            if (pagesWritten != null) {
                try {
                    dev.cryo.engine.ptrace.Tracer.await(pagesWritten); // a failed write names its pid and step
                } finally {
                    pagesWritten = null;
                }
            }
            step = stepTimes.next("protections");
            for (int i : filled) {
                vma_entry v = vmas.get(i);
                if (v.getProt() != (v.getProt() | 3)) {
                    remote.call("mprotect", Syscall.MPROTECT, v.getStart(), v.getEnd() - v.getStart(), v.getProt());
                }
            }

            step = stepTimes.next("aio rings");
            for (var ring : img.mm().getAiosList()) {
                int i = vmaAt(ring.getId());
                dev.cryo.engine.resource.AioRings.restore(remote, scratch, memory, ring, i >= 0 && filled.contains(i),
                        pid, log);
            }

            step = stepTimes.next("madvise");
            for (vma_entry v : vmas) {
                if (v.getMadv() != 0) {
                    dev.cryo.engine.mem.Madvise.apply(remote, v, log);
                }
                dev.cryo.engine.mem.Madvise.installGuards(remote, v, log);
                if ((v.getFlags() & dev.cryo.engine.mem.Madvise.MAP_LOCKED) != 0) {
                    dev.cryo.engine.mem.Madvise.lock(remote, v, isFileVma(v)
                            || dev.cryo.engine.mem.Madvise.whole(img.pagemap().runs(), v), log);
                }
            }

            step = stepTimes.next("mm");
            setMm(img);

            step = stepTimes.next("files");
            fdCtx = new FdRestoreContext(host, remote, scratch, options, log, pipesData, fdState);
            shmem.register(fdCtx); // a memfd held open is the object its mappings map
            dev.cryo.engine.resource.FileLocks.restoreAfterFds(fdCtx, dir); // taken again once every fd is in place
            dev.cryo.engine.resource.Fifo.prepare(fdCtx, img.files(), dir); // the paths FIFO fds name, their bytes
            dev.cryo.engine.resource.Tty.prepare(fdCtx, img.files(), dir); // tty-info.img, once per restore
            restoreFds(img, fdCtx, shared);

            step = stepTimes.next("task");
            TaskRestore.fs(fdCtx, img.file(img.fs().getCwdId()).getReg().getName(),
                    img.file(img.fs().getRootId()).getReg().getName(), img.fs().getUmask());
            TaskRestore.task(fdCtx, img.core(), img.pstree(), proc);
            step = stepTimes.next("terminal"); // a session leader takes its pty back once its session is made
            dev.cryo.engine.resource.Tty.controllingTerminal(fdCtx, img.pstree());
            // prctl flags; the parent-death signal not on the root, whose parent is the restorer
            dev.cryo.engine.resource.TaskFlags.restore(fdCtx, img.core(), img.mm(),
                    proc.stat(host).ppid() == ProcessHandle.current().pid(), log);

            step = stepTimes.next("threads");
            for (int tid : img.threads().keySet()) {
                inThread.put(tid, cloneThread(tid));
            }

            step = stepTimes.next("signals");
            remote.stepCalls(false); // a step's forced SIGTRAP would reset an ignored one, or merge with a queued one
            task_core_entry tc = img.core().getTc();
            Signals.restoreActions(remote, scratch, SCRATCH_STRUCTS, tc.getSigactionsList());
            Signals.restoreShared(remote, scratch, SCRATCH_STRUCTS, pid, tc.getSignalsS());

            step = stepTimes.next("timers");
            if (tc.hasTimers()) {
                Timers.restore(pid, remote, scratch, SCRATCH_STRUCTS, tc.getTimers());
            }

            step = stepTimes.next("thread state");
            ThreadState.restoreOwn(remote, scratch, SCRATCH_STRUCTS, pid, pid, img.core());
            for (Map.Entry<Integer, RemoteSyscall> t : inThread.entrySet()) {
                step = stepTimes.next("thread " + t.getKey() + " state");
                ThreadState.restoreOwn(t.getValue(), scratch, SCRATCH_STRUCTS, pid, t.getKey(),
                        img.threads().get(t.getKey()));
            }

            step = stepTimes.next("seccomp"); // after every other call but the credentials', which it suspends for
            if (seccomp != null) {
                Map<Integer, RemoteSyscall> all = new LinkedHashMap<>();
                all.put(pid, remote);
                all.putAll(inThread);
                seccomp.restore(all, scratch, memory, RestoreRun.TRACE_OPTIONS, log);
            }

            step = stepTimes.next("credentials"); // last in the task: nothing after it needs the restorer's privileges there
            TaskRestore.creds(fdCtx, img.core(), img.mm().getDumpable(), proc);
            for (Map.Entry<Integer, RemoteSyscall> t : inThread.entrySet()) {
                // credentials are each thread's own: a raw setresuid or capset changes only the thread that calls it
                // (libc's wrappers signal every thread to do the same), so each thread sets its own
                core_entry own = img.threads().get(t.getKey());
                if (own.getThreadCore().hasCreds()) {
                    step = stepTimes.next("thread " + t.getKey() + " credentials");
                    TaskRestore.creds(new FdRestoreContext(t.getValue().pid(), t.getValue(), scratch, options, log,
                            pipesData, fdState), own, img.mm().getDumpable(), proc);
                }
            }
            log.debug("pid %d built: %s", pid, stepTimes.end());
        } catch (SyscallException | IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": step '" + step + "' failed: " + e.getMessage(), e);
        }
    }

    /** Microseconds spent in each step of a build, for the -v4 log. */
    private static final class StepTimes {
        private final StringBuilder out = new StringBuilder();
        private String current;
        private long since = System.nanoTime();

        StepTimes(String first) {
            current = first;
        }

        String next(String step) {
            long now = System.nanoTime();
            out.append(current).append(' ').append((now - since) / 1000).append(" us, ");
            current = step;
            since = now;
            return step;
        }

        String end() {
            next(null);
            return out.substring(0, out.length() - 2);
        }
    }

    static final int SIGCHLD = 17, RT_SIGTIMEDWAIT = 128;

    /**
     * Last before it runs: the SIGCHLDs the restore itself caused (a helper or a zombie child exiting) are taken
     * back unless the image had one pending, the scratch page goes, then the registers and signal masks of every
     * thread are set; no remote syscall can follow. Its sockets leave repair mode.
     *
     * @param unlockNetwork whether this task's finish lifts the dump's network lock (the root's, done last)
     */
    void ready(boolean unlockNetwork) throws CryoException {
        String step = "file owners";
        try {
            // owners (F_SETOWN_EX) that were threads or tasks not made yet when the fds were
            dev.cryo.engine.resource.FileOwner.restoreLater(fdCtx, SCRATCH_STRUCTS);

            step = "sigchld";
            if (!pending(img.core().getTc().getSignalsS(), SIGCHLD)
                    && !pending(img.core().getThreadCore().getSignalsP(), SIGCHLD)) {
                NativeBuffer set = NativeBuffer.allocate(24); // sigset, then a zero timespec
                set.zero(0, 24);
                set.putLong(0, 1L << (SIGCHLD - 1));
                scratch.write(SCRATCH_STRUCTS, set.bytes(0, 24));
                long got = remote.raw(RT_SIGTIMEDWAIT, scratch.address() + SCRATCH_STRUCTS, 0,
                        scratch.address() + SCRATCH_STRUCTS + 8, 8);
                if (got == SIGCHLD) {
                    log.debug("pid %d: the SIGCHLD the restore caused was taken back", pid);
                }
            }

            step = "unmap scratch";
            scratch.release();
            scratch = null;

            step = "scheduling";
            String unset = ThreadState.restoreScheduling(host, img.core());
            if (unset != null) {
                log.warn("pid %d: %s", pid, unset);
            }
            for (int tid : inThread.keySet()) {
                step = "thread " + tid + " scheduling";
                unset = ThreadState.restoreScheduling(threadHost.get(tid), img.threads().get(tid));
                if (unset != null) {
                    log.warn("thread %d: %s", tid, unset);
                }
            }

            step = "registers";
            Registers regs = ThreadState.restoreRegisters(host, img.core());
            log.debug("pid %d starts at %s", pid, regs);
            for (int tid : inThread.keySet()) {
                step = "thread " + tid + " registers";
                Registers tr = ThreadState.restoreRegisters(threadHost.get(tid), img.threads().get(tid));
                log.debug("thread %d starts at %s", tid, tr);
            }

            step = "sockets";
            SocketRestore.finish(fdCtx, unlockNetwork);
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + pid + ": step '" + step + "' failed: " + e.getMessage(), e);
        }
    }

    private static boolean pending(signal_queue_entry q, int signo) {
        for (siginfo_entry s : q.getSignalsList()) {
            byte[] info = s.getSiginfo().toByteArray();
            if (info.length >= 4 && java.nio.ByteBuffer.wrap(info).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0) == signo) {
                return true;
            }
        }
        return false;
    }

    /**
     * The task runs: the leader first, its threads follow (every task of the tree is whole by now). A task the
     * image has stopped gets its stop signal queued first, so it stops again as soon as it is let go.
     */
    void resume(int stopSignal) throws CryoException {
        try {
            if (stopSignal != 0) {
                Syscall.call("kill(" + host + ", " + stopSignal + ")", Syscall.KILL, host, stopSignal);
            }
            Ptrace.detach(host, 0);
            for (int tid : inThread.keySet()) {
                Ptrace.detach(threadHost.get(tid), 0);
            }
            threadsMade.clear();
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + pid + ": letting it run failed: " + e.getMessage(), e);
        }
    }

    /** Whether the pages go in by UFFDIO_COPY where they can: enough of them, and a VMA that can take them. */
    private boolean usesUffd() {
        return pages.bytes() >= PageInstaller.UFFD_MIN && !emptyAnon(vmas, filled, kept).isEmpty();
    }

    /** The [start, end) of the private anonymous VMAs that get pages: still empty, so UFFDIO_COPY can fill them. */
    private static List<long[]> emptyAnon(List<vma_entry> vmas, Set<Integer> filled, Set<Integer> kept) {
        List<long[]> anon = new ArrayList<>();
        for (int i : filled) {
            vma_entry v = vmas.get(i);
            if (!isFileVma(v) && (v.getFlags() & MAP_SHARED) == 0 && !kept.contains(i)) {
                anon.add(new long[]{v.getStart(), v.getEnd()});
            }
        }
        return anon;
    }

    /**
     * Pages into the VMAs just mapped: UFFDIO_COPY where the kernel allows it, process_vm_writev elsewhere. Needs no
     * ptrace stop, so any thread can. {@code uffdOrNull}: the task's userfaultfd (closed here), or null to write every
     * page with process_vm_writev.
     */
    private void writePages(Pages pages, List<vma_entry> vmas, Set<Integer> filled, RemoteMemory memory,
                            UffdCopy uffdOrNull) throws SyscallException, IOException {
        long t = System.nanoTime();
        List<long[]> anon = emptyAnon(vmas, filled, kept);
        List<long[]> inherited = keptRanges;
        PageInstaller.Result r;
        try (UffdCopy uffd = uffdOrNull) {
            List<long[]> kernel = img.mm().getVmasList().stream().filter(TaskBuilder::isKernelVma)
                    .map(v -> new long[]{v.getStart(), v.getEnd()}).toList();
            PageInstaller installer = new PageInstaller(memory, uffd);
            if (!inherited.isEmpty()) {
                installer.sharing(inherited, creatorBuilt.pages.runs(), creatorBuilt.pages.source());
            }
            r = installer.install(pages.runs(), pages.source(), anon, kernel);
        }
        pagesRestored = (r.uffdBytes() + r.writevBytes()) >>> 12;
        pagesCompared = r.comparedBytes() >>> 12;
        pagesSkippedCow = r.unchangedBytes() >>> 12;
        if (pagesCompared > 0) {
            log.info("pid %d: %d of %d pages compared are still shared with pid %d", pid, pagesSkippedCow,
                    pagesCompared, creatorBuilt.pid);
        }
        if (r.repeatedBytes() > 0) {
            log.warn("pagemap-%d.img names %d pages more than once; each is restored from its last copy", pid,
                    r.repeatedBytes() >>> 12);
        }
        log.info("%d pages written in %d us: %d by UFFDIO_COPY into %d VMAs on %d threads, %d by process_vm_writev",
                pagesRestored, (System.nanoTime() - t) / 1000, r.uffdBytes() >>> 12, r.vmasRegistered(), r.threads(),
                r.writevBytes() >>> 12);
    }

    /** The new task's userfaultfd, or null where the kernel has none for it (then every page is written). */
    private UffdCopy openUffd() {
        if ("false".equals(System.getProperty("cryo.restore.uffd"))) {
            return null;
        }
        try {
            long t = System.nanoTime();
            UffdCopy u = UffdCopy.open(remote);
            log.debug("userfaultfd of pid %d taken in %d us", pid, (System.nanoTime() - t) / 1000);
            return u;
        } catch (SyscallException e) {
            log.info("no userfaultfd for pid %d (%s): its pages go in with process_vm_writev", pid, e.getMessage());
            return null;
        }
    }

    /** A free range of {@code size} bytes outside every busy range, low in the address space. */
    static long gap(List<long[]> busy, long size) {
        List<long[]> sorted = new ArrayList<>(busy);
        sorted.sort(Comparator.comparingLong(a -> a[0]));
        long candidate = 0x10000000L;
        for (long[] b : sorted) {
            if (b[1] <= candidate) {
                continue;
            }
            if (b[0] >= candidate + size) {
                return candidate;
            }
            candidate = (b[1] + 0xfff) & ~0xfffL;
        }
        return candidate;
    }

    /**
     * The helper's own mappings ({@code maps}, in address order) as the fewest [start, end) ranges munmap takes:
     * neighbours joined across the holes between them (munmap skips what is not mapped), never across a kernel
     * mapping (vDSO, vvar) or the scratch page [{@code keepStart}, {@code keepEnd}). A remote syscall each, a tree's
     * every task: about 3 instead of 20.
     */
    static List<long[]> helperRanges(List<MapsEntry> maps, long keepStart, long keepEnd) {
        List<long[]> out = new ArrayList<>();
        long[] run = null;
        for (MapsEntry m : maps) {
            if (m.isKernelSpecial()) {
                run = null;
                continue;
            }
            boolean keptBetween = run != null && keepStart < m.start() && keepEnd > run[1];
            if (run == null || keptBetween) {
                run = new long[]{m.start(), m.end()};
                out.add(run);
            } else {
                run[1] = m.end();
            }
        }
        return out;
    }

    /** [start, end) of the adjacent [vvar] [vvar_vclock] [vdso] block. */
    private long[] vdsoBlock(List<MapsEntry> maps) throws CryoException {
        long[] b = HostCompatibility.vdsoBlock(maps);
        if (b == null) {
            throw new CryoException("cannot restore pid " + pid + ": this kernel gave the new task no vDSO");
        }
        return b;
    }

    /** The VMAs of the vDSO block, [start, end) each, in address order. */
    private static List<long[]> vdsoPieces(List<MapsEntry> maps) {
        List<long[]> pieces = new ArrayList<>();
        for (MapsEntry m : maps) {
            if (m.isVdso() || m.isVvar()) {
                pieces.add(new long[]{m.start(), m.end()});
            }
        }
        pieces.sort((a, b) -> Long.compare(a[0], b[0]));
        return pieces;
    }

    /**
     * Moves the vDSO block from {@code from} to {@code to} (ranges apart) one VMA at a time: kernels before 6.17
     * refuse to mremap a range spanning several VMAs (EFAULT; Debian 12's 6.1 does). The VMA holding the remote
     * syscall site goes last, and the site with it.
     */
    private void mremapVdsoBlock(List<long[]> pieces, long block, long from, long to) throws SyscallException {
        long site = remote.site() - from + block;
        long[] last = null;
        for (long[] p : pieces) {
            if (site >= p[0] && site < p[1]) {
                last = p;
                continue;
            }
            remote.call("mremap vdso", Syscall.MREMAP, from + (p[0] - block), p[1] - p[0], p[1] - p[0], 3, to + (p[0] - block));
        }
        if (last != null) {
            remote.call("mremap vdso", Syscall.MREMAP, from + (last[0] - block), last[1] - last[0], last[1] - last[0], 3,
                    to + (last[0] - block));
            remote.moveSite(remote.site() + (to - from));
        }
    }

    /**
     * {@code -Dcryo.restore.vdsoThroughFreePlace=true}: every vDSO move goes through a free place, as an overlapping
     * one does (the helper's block over the image's: rare, as both are placed at random), for tests of that path.
     */
    static final String THROUGH_FREE_PLACE = "cryo.restore.vdsoThroughFreePlace";

    private void moveVdso(Image img, long[] block, List<long[]> pieces, List<long[]> busy)
            throws SyscallException, CryoException {
        long[] imageBlock = HostCompatibility.vdsoBlock(img.mm());
        if (imageBlock == null) {
            throw new CryoException("cannot restore pid " + pid + ": the image has no vDSO, which Cryo cannot restore yet");
        }
        long s = imageBlock[0], e = imageBlock[1];
        long vdsoStart = 0;
        for (vma_entry v : img.mm().getVmasList()) {
            if ((v.getStatus() & VMA_AREA_VDSO) != 0) {
                vdsoStart = v.getStart();
            }
        }
        long size = block[1] - block[0];
        if (e - s != size) {
            throw new CryoException("cannot restore pid " + pid + ": the vDSO block has " + (e - s) + " bytes in the "
                    + "image but " + size + " on this kernel; the images come from a different kernel");
        }
        if (s == block[0]) {
            return;
        }
        long from = block[0];
        String through = "";
        if ((s < block[1] && block[0] < e) || Boolean.getBoolean(THROUGH_FREE_PLACE)) {
            // overlapping move: go through a free place first
            long tmp = gap(busy, size);
            mremapVdsoBlock(pieces, block[0], from, tmp);
            from = tmp;
            through = String.format(" through %x", tmp);
        }
        mremapVdsoBlock(pieces, block[0], from, s);
        log.debug("vDSO block moved from %x to %x%s (vdso at %x)", block[0], s, through, vdsoStart);
    }

    /** Indexes of VMAs that receive pages (they are mapped writable until filled). */
    private static Set<Integer> vmasWithPages(List<vma_entry> vmas, List<PageRun> runs) {
        Set<Integer> out = new HashSet<>();
        List<PageRun> sorted = new ArrayList<>(runs);
        sorted.sort(Comparator.comparingLong(PageRun::address));
        int j = 0;
        for (int i = 0; i < vmas.size(); i++) {
            vma_entry v = vmas.get(i);
            while (j < sorted.size() && sorted.get(j).end() <= v.getStart()) {
                j++;
            }
            if (j < sorted.size() && sorted.get(j).address() < v.getEnd()) {
                out.add(i);
            }
        }
        return out;
    }

    /**
     * Whether the kernel would merge {@code v}, mapped fresh, with the VMA before it: both private anonymous,
     * touching, with the same protections and flags. In the dumped process they were two VMAs, so something kept
     * them apart there (each had its own anon_vma, or a moving mremap left them with unrelated page offsets).
     */
    static boolean mergesWithPrevious(vma_entry prev, vma_entry v) {
        return prev.getEnd() == v.getStart() && privateAnonymous(prev) && privateAnonymous(v)
                && prev.getProt() == v.getProt()
                && (prev.getFlags() & MAP_KIND) == (v.getFlags() & MAP_KIND);
    }

    private static boolean privateAnonymous(vma_entry v) {
        return !isFileVma(v) && !isKernelVma(v) && (v.getFlags() & MAP_SHARED) == 0;
    }

    /**
     * Maps private anonymous VMAs so that the kernel keeps them apart from the fresh neighbour before them, the way
     * a program's moving mremap does: mapped in a free place, given an anon_vma there (one page written through
     * /proc/PID/mem, then dropped), then moved into place. A VMA moved with an anon_vma keeps the page offset of
     * where it was made, which continues no neighbour's, so neither a merge nor a shared anon_vma can join them
     * (an empty VMA would take the offset of its new place and merge). It ends empty, as freshly mapped, so its
     * pages go in as any other VMA's; only its page offset, which no /proc file shows, and the anon_vma, which a
     * VMA with no pages in the image may not have had, differ from a fresh mapping.
     */
    private final class VmaSeparator implements AutoCloseable {
        static final int MADV_DONTNEED = 4, MREMAP_MAYMOVE_FIXED = 3, MAP_FIXED_NOREPLACE = 0x100000;
        private final List<long[]> busy;
        private java.nio.channels.FileChannel mem;
        private boolean unavailable;

        VmaSeparator(List<long[]> busy) {
            this.busy = busy;
        }

        /** Maps {@code v} apart from its predecessor; false (nothing mapped) where /proc/PID/mem cannot be written. */
        boolean map(vma_entry v, boolean filled) throws SyscallException, CryoException {
            if (unavailable) {
                return false;
            }
            long len = v.getEnd() - v.getStart();
            long at = gap(busy, len + 2 * 4096) + 4096; // a page of room each side: no merge with anything there
            int prot = filled ? v.getProt() | 3 : v.getProt();
            int flags = (v.getFlags() & (MAP_PRIVATE | MAP_GROWSDOWN | MAP_NORESERVE)) | MAP_ANON | MAP_FIXED_NOREPLACE;
            String where = Long.toHexString(v.getStart());
            remote.call("mmap " + where + " (made apart at " + Long.toHexString(at) + ")", Syscall.MMAP, at, len, prot,
                    flags, -1, 0);
            try {
                if (mem == null) {
                    mem = java.nio.channels.FileChannel.open(Path.of("/proc/" + host + "/mem"),
                            java.nio.file.StandardOpenOption.WRITE);
                }
                // FOLL_FORCE: the write reaches read-only and PROT_NONE VMAs too, and faults in an anon_vma
                mem.write(java.nio.ByteBuffer.wrap(new byte[1]), at);
            } catch (IOException e) {
                unavailable = true;
                log.warn("cannot write /proc/%d/mem (%s): adjacent anonymous VMAs may come back merged", pid,
                        e.getMessage());
                remote.call("munmap", Syscall.MUNMAP, at, len);
                return false;
            }
            // the whole range: a written page in an aligned VMA may have become a huge page
            remote.call("madvise " + Long.toHexString(at) + " MADV_DONTNEED", Syscall.MADVISE, at, len, MADV_DONTNEED);
            remote.call("mremap " + Long.toHexString(at) + " to " + where, Syscall.MREMAP, at, len, len,
                    MREMAP_MAYMOVE_FIXED, v.getStart());
            return true;
        }

        @Override
        public void close() {
            if (mem != null) {
                try {
                    mem.close();
                } catch (IOException ignored) {
                    // a /proc file: nothing was buffered
                }
            }
        }
    }

    /** The index in {@link #vmas} of the VMA starting at {@code start}, or -1. */
    private int vmaAt(long start) {
        for (int i = 0; i < vmas.size(); i++) {
            if (vmas.get(i).getStart() == start) {
                return i;
            }
        }
        return -1;
    }

    private void mapVma(Image img, vma_entry v, boolean filled, Map<Integer, Integer> fileFds)
            throws SyscallException, CryoException {
        int prot = filled ? v.getProt() | 3 : v.getProt();
        long len = v.getEnd() - v.getStart();
        int flags = (v.getFlags() & MAP_KIND) | MAP_FIXED;
        if (dev.cryo.engine.resource.AioRings.isAioRing(v)) {
            // a placeholder the saved ring is written into; the AIO context made again takes its place
            remote.call("mmap aio ring placeholder " + Long.toHexString(v.getStart()), Syscall.MMAP, v.getStart(),
                    len, 3, MAP_PRIVATE | MAP_FIXED | MAP_ANON, -1, 0);
        } else if (SharedMemory.isSysv(v)) {
            shmem.attachSysv(remote, v);
        } else if (SharedMemory.isAnonShared(v)) {
            shmem.map(remote, v);
        } else if (SharedMemory.isMemfd(v)) {
            shmem.mapMemfd(remote, v, img.file((int) v.getShmid()), prot);
        } else if (isFileVma(v)) {
            int id = (int) v.getShmid();
            boolean rw = (v.getFlags() & MAP_SHARED) != 0 && (v.getFdflags() & 3) == RegularFile.O_RDWR;
            // a file mapped private and shared-writable needs a read-only and a read-write open
            Integer fd = fileFds.get(rw ? -id : id);
            if (fd == null) {
                String path = img.file(id).getReg().getName();
                long p = scratch.string(0, path);
                fd = (int) remote.call("open " + path, Syscall.OPENAT, -100, p, rw ? 2 : 0, 0);
                fileFds.put(rw ? -id : id, fd);
            }
            remote.call("mmap " + Long.toHexString(v.getStart()), Syscall.MMAP, v.getStart(), len, prot, flags, fd,
                    v.getPgoff());
        } else {
            remote.call("mmap " + Long.toHexString(v.getStart()), Syscall.MMAP, v.getStart(), len, prot,
                    flags | MAP_ANON, -1, 0);
        }
    }

    private void setMm(Image img) throws SyscallException, CryoException {
        mm_entry mm = img.mm();
        String exe = img.file(mm.getExeFileId()).getReg().getName();
        // The task still runs the helper's program. When that is also the restored one (a dumped sleep), it stays:
        // the kernel refuses (EBUSY) to replace an exe file that the restored mappings map again.
        boolean sameExe = exe.equals(currentExe());
        int exeFd = sameExe ? -1 : (int) remote.call("open " + exe, Syscall.OPENAT, -100, scratch.string(0, exe), 0, 0);
        int auxvCount = Math.min(mm.getMmSavedAuxvCount(), 52);
        NativeBuffer auxv = NativeBuffer.allocate(auxvCount * 8);
        for (int i = 0; i < auxvCount; i++) {
            auxv.putLong(i * 8, mm.getMmSavedAuxv(i));
        }
        scratch.write(SCRATCH_AUXV, auxv.bytes(0, auxvCount * 8));
        NativeBuffer map = NativeBuffer.allocate(104);
        long[] f = {mm.getMmStartCode(), mm.getMmEndCode(), mm.getMmStartData(), mm.getMmEndData(),
                mm.getMmStartBrk(), mm.getMmBrk(), mm.getMmStartStack(), mm.getMmArgStart(), mm.getMmArgEnd(),
                mm.getMmEnvStart(), mm.getMmEnvEnd()};
        for (int i = 0; i < f.length; i++) {
            map.putLong(i * 8, f[i]);
        }
        map.putLong(88, scratch.address() + SCRATCH_AUXV);
        map.putInt(96, auxvCount * 8);
        map.putInt(100, exeFd);
        scratch.write(SCRATCH_STRUCTS, map.bytes(0, 104));
        remote.call("prctl(PR_SET_MM_MAP)", Syscall.PRCTL, PR_SET_MM, PR_SET_MM_MAP,
                scratch.address() + SCRATCH_STRUCTS, 104, 0);
        if (!sameExe) {
            remote.call("close", Syscall.CLOSE, exeFd);
        }
    }

    /** Where /proc/PID/exe of the task being built points now (null when unreadable). */
    private String currentExe() {
        try {
            return dev.cryo.engine.sys.DirectFiles.readLink("/proc/" + host + "/exe");
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Every fd at its number. A file id that other tasks hold too is one open file description: the first task
     * to meet it opens it and Cryo keeps a copy (pidfd_getfd), every later task gets that copy (see
     * {@link SharedFiles}).
     */
    private void restoreFds(Image img, FdRestoreContext ctx, SharedFiles shared) throws SyscallException, CryoException {
        remote.call("close_range", Syscall.CLOSE_RANGE, 0, 0xffffffffL, 0);
        Map<Integer, List<fdinfo_entry>> byFile = new LinkedHashMap<>();
        img.fdinfo().stream().sorted(Comparator.comparingInt(fdinfo_entry::getFd))
                .forEach(fd -> byFile.computeIfAbsent(fd.getId(), k -> new ArrayList<>()).add(fd));
        Set<Integer> targets = new HashSet<>();
        img.fdinfo().forEach(fd -> targets.add(fd.getFd()));
        ctx.state().put(dev.cryo.engine.resource.Pipe.MAX_FD, targets.stream().mapToInt(i -> i).max().orElse(0));
        for (List<fdinfo_entry> group : byFile.values()) {
            fdinfo_entry first = group.get(0);
            file_entry file = img.file(first.getId(), first.getType());
            FdKind kind = FdKinds.of(file.getType()).orElseThrow();
            Integer held = shared.held(file.getId());
            Integer inherited = held == null ? dev.cryo.engine.resource.InheritedFds.match(ctx, file) : null;
            int got;
            if (held != null) {
                got = shared.give(ctx, held);
            } else {
                got = inherited != null ? dev.cryo.engine.resource.InheritedFds.give(ctx, inherited, "fd " + first.getFd())
                        : kind.restore(ctx, file, first); // --inherit-fd: the restorer's fd stands for the file
                if (shared.isShared(file.getId())) {
                    shared.take(host, got, file.getId());
                }
            }
            for (fdinfo_entry fd : group) {
                boolean cloexec = (fd.getFlags() & RegularFile.FD_CLOEXEC) != 0;
                if (fd.getFd() != got) {
                    remote.call("dup3", Syscall.DUP3, got, fd.getFd(), cloexec ? RegularFile.O_CLOEXEC : 0);
                } else if (cloexec) {
                    remote.call("fcntl(F_SETFD)", Syscall.FCNTL, got, 2, 1);
                }
            }
            if (held == null && inherited == null) {
                // owner, signal and O_ASYNC: the description's, set once, where it is made, on its first number (the
                // one a signal names)
                file_entry reg = file.hasFifo() ? img.file(file.getFifo().getRegfId(), fd_types.REG) : null;
                dev.cryo.engine.resource.FileOwner.restore(ctx, file, reg, first.getFd(), SCRATCH_STRUCTS);
            }
            if (!targets.contains(got)) {
                remote.call("close", Syscall.CLOSE, got);
            }
            log.debug("fd %s: %s%s", group.stream().map(g -> Integer.toString(g.getFd())).toList(),
                    file.hasReg() ? file.getReg().getName() : file.getType(), held != null ? " (shared)" : "");
        }
        // files no task held, only a unix socket's queue (sent, not yet received): made here for a moment, the way
        // their kind makes them, Cryo keeping the copy the queue's refill sends
        for (int id : shared.inFlightToMake()) {
            file_entry file = img.file(id);
            FdKind kind = FdKinds.of(file.getType()).orElseThrow(() -> new CryoException("cannot restore pid " + pid
                    + ": a file in flight in a unix socket's queue (id " + id + ") is of a kind Cryo cannot make: "
                    + file.getType()));
            fdinfo_entry fd = fdinfo_entry.newBuilder().setId(id).setType(file.getType()).setFlags(0)
                    .setFd(targets.stream().mapToInt(i -> i).max().orElse(0) + 1).build();
            int got = kind.restore(ctx, file, fd);
            shared.take(host, got, id);
            remote.call("close", Syscall.CLOSE, got);
            log.debug("file %d (%s) in flight in a unix socket's queue: made for it", id, file.getType());
        }
        ctx.runAfterFds(); // epoll registrations: every target is at its number now
    }
}
