package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.ChainPages;
import dev.cryo.engine.mem.PageHashes;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.ipc_desc_entry;
import dev.cryo.image.proto.ipc_shm_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.fown_entry;
import dev.cryo.image.proto.memfd_file_entry;
import dev.cryo.image.proto.memfd_inode_entry;
import dev.cryo.image.proto.pagemap_entry;
import dev.cryo.image.proto.pagemap_head;
import dev.cryo.image.proto.vma_entry;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;

/**
 * Shared memory objects. Shared anonymous memory: the shmem object (an unlinked file of the kernel's internal tmpfs) behind a
 * {@code MAP_SHARED|MAP_ANONYMOUS} mapping or {@code /dev/zero} mapped shared, which {@code /proc/PID/maps} shows as
 * {@code /dev/zero (deleted)}. Several VMAs, of one task or of several, may map one object (after a partial
 * {@code mremap}, or across {@code fork}); the object is saved once and comes back as one object.
 *
 * <p>Images, as CRIU writes them: a VMA is {@code VMA_AREA_REGULAR|VMA_ANON_SHARED} with {@code MAP_SHARED|MAP_ANONYMOUS}
 * and {@code shmid} = the object's inode number; the object's pages are in {@code pagemap-shmem-SHMID.img} (a
 * PAGEMAP image whose {@code vaddr}s are byte offsets into the object) and the {@code pages-N.img} its head names.
 * A memfd mapping is {@code VMA_FILE_SHARED|VMA_AREA_MEMFD} (or private) whose {@code shmid} is a MEMFD entry of
 * files.img; that entry's {@code inode_id} names a memfd_inode_entry of memfd.img (name, size, owner, seals,
 * {@code shmid} = inode), and the contents are in pagemap-shmem-SHMID.img as above. A SysV segment is
 * {@code VMA_ANON_SHARED|VMA_AREA_SYSVIPC} with {@code shmid} = the segment's id; ipcns-shm-3.img holds its
 * ipc_shm_entry with the contents inline.
 *
 * <p>API:
 * <ul>
 *   <li>dump: {@link Dump#collect(int, MapsEntry)} for every shared VMA of every task (gives the {@code shmid} for
 *   its vma_entry); once every task is frozen and collected, {@link Dump#writeImages(ImageDir, IntSupplier)}
 *   saves each object's pages once (the object's pages that exist, found with {@code SEEK_DATA}, read through
 *   {@code /proc/PID/map_files}); {@link Dump#forget(int)} drops what a task's VMAs collected when they are read
 *   again.</li>
 *   <li>restore: one {@link Restore} per restore, shared by every task. {@link Restore#map(RemoteSyscall, vma_entry)}
 *   maps one VMA into the task the remote syscalls run in: the first call for an object makes it (in Cryo: a
 *   shared anonymous mapping, opened through {@code /proc/self/map_files}, then unmapped), fills it from the
 *   images, and every call puts the object's fd into that task ({@code pidfd_getfd}) and maps it there with the
 *   VMA's page offset. {@link Restore#doneWith(RemoteSyscall)} closes the fds a task was given (its mappings keep
 *   the object), {@link Restore#finish()} seals memfds once every task is built and before any runs,
 *   {@link Restore#close()} drops the engine's fds,
 *   {@link Restore#abort()} removes the SysV segments a failed restore made. {@link Restore#mapMemfd} and
 *   {@link Restore#attachSysv} do the same for memfd and SysV VMAs.</li>
 *   <li>memfd held as an fd: {@link Dump#of(FdDumpContext)} then {@link Dump#memfdFile} gives the files.img entry
 *   (one memfd_inode_entry per memfd, whether mapped, held open or both); {@link Restore#of(FdRestoreContext)} then
 *   {@link Restore#openMemfd} gives the task an fd of the same object its mappings map.</li>
 * </ul>
 * Incremental dumps (pre-dump, {@code --track-mem}, {@code --prev-images-dir}) save each object in every dump of
 * the chain, a pre-dump included, as CRIU does; a page the parent dump holds unchanged (same content hash, read
 * through whichever task maps it) is left to it with PE_PARENT, and the restore reads it down the parent links.
 */
public final class SharedMemory {
    public static final int VMA_AREA_REGULAR = 1, VMA_FILE_PRIVATE = 1 << 6, VMA_FILE_SHARED = 1 << 7,
            VMA_ANON_SHARED = 1 << 8, VMA_AREA_MEMFD = 1 << 14;
    public static final int VMA_AREA_SYSVIPC = 1 << 10;
    static final int SHMGET = 29, SHMAT = 30, SHMCTL = 31, SHMDT = 67, IPC_STAT = 2, IPC_SET = 1, IPC_RMID = 0, IPC_CREAT = 01000,
            IPC_EXCL = 02000, SHM_RDONLY = 010000, SHM_EXEC = 0100000, SHM_DEST = 01000, SHMID_DS = 112;
    /** memfd.img: one memfd_inode_entry per memfd object, which files.img's MEMFD entries name by inode_id. */
    public static final String MEMFD_IMAGE = "memfd.img";
    /** The page hashes of object SHMID, beside its pagemap, in a dump that is part of a chain ({@link Dump#chained}). */
    public static final String HASHES = "cryo-shmem-hashes-";
    static final int CHUNK = 1 << 20;
    static final int F_ADD_SEALS = 1033, F_GET_SEALS = 1034, MEMFD_CREATE = 319, MFD_CLOEXEC = 1,
            MFD_ALLOW_SEALING = 2, FCHMOD = 91;
    public static final int MAP_SHARED = 1, MAP_FIXED = 0x10, MAP_ANON = 0x20;
    static final int PROT_RW = 3, O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000, AT_FDCWD = -100;
    static final int SEEK_DATA = 3, SEEK_HOLE = 4, ENXIO = 6, FTRUNCATE = 77, F_SETFD = 2;
    static final long PAGE = 4096;

    /** The IPC namespace id Cryo's images give every task (ids-PID.img, TaskResources.ids). */
    public static final int IPC_NS_ID = 3;

    private SharedMemory() {
    }

    /** Whether a VMA of /proc/PID/maps is shared anonymous memory (a {@code /dev/zero (deleted)} shmem object). */
    public static boolean isAnonShared(MapsEntry m) {
        return m.shared() && (m.path().equals("/dev/zero (deleted)") || m.path().equals("/dev/zero")
                && m.devMajor() == 0);
    }

    /** Whether a VMA of /proc/PID/maps maps a memfd ({@code /memfd:NAME (deleted)} on the kernel's tmpfs). */
    public static boolean isMemfd(MapsEntry m) {
        return m.path().startsWith("/memfd:") && m.devMajor() == 0;
    }

    /** Whether an image's VMA maps a memfd (its shmid is then a MEMFD entry of files.img). */
    public static boolean isMemfd(vma_entry v) {
        return (v.getStatus() & VMA_AREA_MEMFD) != 0;
    }

    /** Whether a VMA of /proc/PID/maps is a SysV shared memory segment ({@code /SYSV<key> (deleted)}, inode = its id). */
    public static boolean isSysv(MapsEntry m) {
        return m.path().startsWith("/SYSV") && m.devMajor() == 0;
    }

    public static boolean isSysv(vma_entry v) {
        return (v.getStatus() & VMA_AREA_SYSVIPC) != 0;
    }

    /** ipcns-shm-ID.img: the SysV segments the tasks attach, each with its contents inline. */
    public static String sysvImage(int ipcNsId) {
        return "ipcns-shm-" + ipcNsId + ".img";
    }

    /** What IPC_STAT tells of a SysV segment: its key, owner, creator, mode (with SHM_DEST) and size. */
    record Segment(int key, int uid, int gid, int cuid, int cgid, int mode, long size) {
    }

    /**
     * Segment {@code id} of Cryo's IPC namespace, or null if there is none. IPC_STAT needs read permission, which
     * root lacks on another user's 0600 segment without CAP_IPC_OWNER (a container's usual capabilities): then
     * /proc/sysvipc/shm, which shows every segment of the namespace to anyone, says the same.
     */
    static Segment segment(long id) {
        NativeBuffer ds = NativeBuffer.allocate(SHMID_DS);
        long r = Syscall.raw(SHMCTL, id, IPC_STAT, ds.address());
        if (r >= 0) {
            return new Segment(ds.getInt(0), ds.getInt(4), ds.getInt(8), ds.getInt(12), ds.getInt(16),
                    ds.getInt(20) & 0xffff, ds.getLong(48));
        }
        if (r != -13 /* EACCES */ && r != -1 /* EPERM */) {
            return null;
        }
        try {
            return sysvipcLine(java.nio.file.Files.readAllLines(Path.of("/proc/sysvipc/shm")), id);
        } catch (IOException e) {
            return null;
        }
    }

    /** The segment {@code id} in /proc/sysvipc/shm's lines (key shmid perms size cpid lpid nattch uid gid cuid cgid ...). */
    static Segment sysvipcLine(List<String> lines, long id) {
        for (String line : lines) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 11 || !f[1].equals(Long.toString(id))) {
                continue;
            }
            return new Segment((int) Long.parseLong(f[0]), Integer.parseInt(f[7]), Integer.parseInt(f[8]),
                    Integer.parseInt(f[9]), Integer.parseInt(f[10]), Integer.parseInt(f[2], 8), Long.parseLong(f[3]));
        }
        return null;
    }

    /** IPC_SET: owner and mode of segment {@code id}; the errno, or 0. */
    static int setOwner(long id, int uid, int gid, int mode) {
        NativeBuffer ds = NativeBuffer.allocate(SHMID_DS);
        ds.putInt(4, uid);
        ds.putInt(8, gid);
        ds.putInt(20, mode & 0777);
        long r = Syscall.raw(SHMCTL, id, IPC_SET, ds.address());
        return r < 0 ? (int) -r : 0;
    }

    /** The name memfd_create was given, from the path /proc shows. */
    static String memfdName(String path) {
        String n = path.substring("/memfd:".length());
        return n.endsWith(" (deleted)") ? n.substring(0, n.length() - " (deleted)".length()) : n;
    }

    /** Whether an image's VMA maps a shared anonymous object. */
    public static boolean isAnonShared(vma_entry v) {
        return (v.getStatus() & VMA_ANON_SHARED) != 0 && !isSysv(v);
    }

    /** The image that lists the pages of object {@code shmid}. */
    public static String pagemapName(long shmid) {
        return "pagemap-shmem-" + Long.toUnsignedString(shmid) + ".img";
    }

    private static String mapFiles(int pid, long start, long end) {
        return String.format("/proc/%d/map_files/%x-%x", pid, start, end);
    }

    private static int open(String path, int flags) throws SyscallException {
        NativeBuffer p = cString(path);
        try {
            return (int) Syscall.call("open " + path, Syscall.OPENAT, AT_FDCWD, p.address(), flags | O_CLOEXEC, 0);
        } finally {
            java.lang.ref.Reference.reachabilityFence(p);
        }
    }

    static NativeBuffer cString(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        NativeBuffer n = NativeBuffer.allocate(b.length + 1);
        n.put(0, b);
        n.buffer().put(b.length, (byte) 0);
        return n;
    }

    /** A channel on an fd the engine holds (a new open file description of the same file). */
    private static FileChannel channel(int fd, boolean write) throws IOException {
        Path p = Path.of("/proc/self/fd/" + fd);
        return write ? FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(p, StandardOpenOption.READ);
    }

    // ---- dump

    /** The shared objects of the tasks being dumped, collected VMA by VMA. */
    public static final class Dump {
        /** One object: its size as the VMAs show it, and the VMAs that map it (the first reachable one is read). */
        private static final class DumpedObject {
            final long shmid;
            long size;
            /** a SysV segment: its contents go to ipcns-shm, not to a pagemap */
            boolean sysv;
            /** for a memfd: its memfd.img entry so far (size, owner and seals are read while frozen) */
            memfd_inode_entry.Builder memfd;
            final List<long[]> where = new ArrayList<>(); // {pid, start, end, page offset in bytes}
            /** where a memfd is opened from: /proc/PID/map_files/START-END or /proc/PID/fd/N */
            final List<String> openPaths = new ArrayList<>();
            /** saved already (a later {@link #writeImages} call saves only what was collected since) */
            boolean written;
            /** a SysV segment's entry, once saved */
            ImageEntry segment;

            DumpedObject(long shmid) {
                this.shmid = shmid;
            }
        }

        private final Log log;
        private final Map<Long, DumpedObject> objects = new LinkedHashMap<>();
        private long pagesScanned, pagesWritten, pagesInParent;
        /** part of a chain of dumps: each page is hashed, and one the parent holds the same is left to it */
        private boolean chained;
        /** the previous dump of the chain, or null */
        private ImageDir parent;
        /** pages images written and not yet in the manifest */
        private final List<Integer> unsummed = new ArrayList<>();
        /** memfd.img's inode_id of each memfd (by inode) named so far; kept when a task's maps are read again */
        private final Map<Long, Integer> memfdInodeIds = new HashMap<>();

        /** The dump of each task being dumped, for the fd kinds that meet shared objects (a memfd held open). */
        private static final Map<Integer, Dump> OF_TASK = new java.util.concurrent.ConcurrentHashMap<>();

        /** SysV segments are dumped with the container's ipc namespace (IpcNamespace): a VMA only names its id */
        private boolean sysvWithNamespace;

        public Dump(Log log) {
            this.log = log;
        }

        /**
         * The tree lives in an ipc namespace of its own, which {@link IpcNamespace} dumps whole: its SysV segments,
         * attached or not, go there, and the tasks' SysV VMAs only name them by id.
         */
        public void sysvDumpedWithNamespace() {
            sysvWithNamespace = true;
        }

        /** Makes this the dump {@link #of(FdDumpContext)} gives for {@code pid}'s fds. */
        public Dump register(int pid) {
            OF_TASK.put(pid, this);
            return this;
        }

        /** The shared objects of the dump an fd belongs to (a memfd fd calls {@link #memfdFile} on it). */
        public static Dump of(FdDumpContext ctx) {
            return OF_TASK.get(ctx.pid());
        }

        /** Notes one VMA of a shared object; returns the object's shmid (its inode number) for the vma_entry. */
        public long collect(int pid, MapsEntry m) {
            DumpedObject o = objects.computeIfAbsent(m.inode(), DumpedObject::new);
            o.size = Math.max(o.size, m.offset() + m.length());
            o.where.add(new long[]{pid, m.start(), m.end(), m.offset()});
            return o.shmid;
        }

        /**
         * A files.img entry (type MEMFD) for a memfd the task maps or holds open, {@code id} being its number in
         * files.img. The memfd's object is collected once (by inode): its contents go to
         * pagemap-shmem-SHMID.img and its name, size, owner and seals to memfd.img, where the entry's inode_id
         * points. {@code openPath} is a /proc path that opens it (map_files/START-END, or fd/N).
         *
         * @param flags open flags of the description (O_RDWR ...), {@code pos} its offset (0 for a mapping)
         */
        public file_entry memfdFile(int pid, long inode, String procPath, String openPath, long start, long end,
                                    int id, int flags, long pos) {
            int inodeId = noteMemfd(pid, inode, procPath, openPath, start, end);
            return file_entry.newBuilder().setId(id).setType(fd_types.MEMFD).setMemfd(memfd_file_entry.newBuilder()
                    .setId(id).setFlags(flags).setPos(pos).setInodeId(inodeId)
                    .setFown(fown_entry.newBuilder().setUid(0).setEuid(0).setSignum(0).setPidType(0).setPid(0)))
                    .build();
        }

        /**
         * Notes where memfd {@code inode} is mapped or held, and returns its memfd.img inode_id. The id is the
         * memfd's for the whole dump: a task's maps read again after the freeze ({@link #forget}) find the same one,
         * which the files.img entries made from the first read already name.
         */
        public int noteMemfd(int pid, long inode, String procPath, String openPath, long start, long end) {
            DumpedObject o = objects.computeIfAbsent(inode, DumpedObject::new);
            if (o.memfd == null) {
                int inodeId = memfdInodeIds.computeIfAbsent(inode, i -> memfdInodeIds.size() + 1);
                o.memfd = memfd_inode_entry.newBuilder().setName(memfdName(procPath)).setShmid((int) inode)
                        .setInodeId(inodeId).setUid(0).setGid(0).setSize(0).setSeals(0);
            }
            o.where.add(new long[]{pid, start, end, 0});
            o.openPaths.add(openPath);
            return (int) o.memfd.getInodeId();
        }

        /** Notes one VMA of a SysV segment; returns the segment's id (its shmid). */
        public long collectSysv(int pid, MapsEntry m) {
            long id = collect(pid, m);
            objects.get(m.inode()).sysv = true;
            return id;
        }

        /** Drops the VMAs of {@code pid} collected so far (its maps are read again). */
        public void forget(int pid) {
            objects.values().forEach(o -> o.where.removeIf(w -> w[0] == pid));
            objects.values().forEach(o -> o.openPaths.removeIf(p -> p.startsWith("/proc/" + pid + "/")));
            objects.values().removeIf(o -> o.where.isEmpty());
            for (DumpedObject o : objects.values()) {
                o.size = o.where.stream().mapToLong(w -> w[3] + w[2] - w[1]).max().orElse(0);
            }
        }

        public boolean isEmpty() {
            return objects.isEmpty();
        }

        public long pagesScanned() {
            return pagesScanned;
        }

        public long pagesWritten() {
            return pagesWritten;
        }

        /** Pages left to the parent dump, which holds them unchanged. */
        public long pagesInParent() {
            return pagesInParent;
        }

        /**
         * Makes this dump part of a chain (a pre-dump, {@code --track-mem}, {@code --prev-images-dir}): every object's
         * pages are hashed and the hashes kept beside its pagemap ({@link #HASHES}), and a page whose hash the
         * parent's hashes have at the same offset is left to the parent (PE_PARENT) instead of saved again. The
         * object's pages are read through any task that maps it, so a page written through any of them counts.
         *
         * @param parent the previous dump ({@code --prev-images-dir}), or null
         */
        public void chained(ImageDir parent) {
            this.chained = true;
            this.parent = parent;
        }

        /**
         * Saves every object's pages once: pagemap-shmem-SHMID.img and its pages-N.img, N from {@code pagesIds}.
         * Runs while every task that maps the objects is frozen. A later call saves only the objects collected since
         * (memfds that the fds, read after the mappings, hold without mapping them), and rewrites memfd.img whole.
         */
        public void writeImages(ImageDir dir, IntSupplier pagesIds) throws CryoException {
            writeImages(dir, pagesIds, false);
        }

        /**
         * As {@link #writeImages(ImageDir, IntSupplier)}; {@code pagesOnly} (a pre-dump) saves the pages of shared
         * anonymous memory and memfds only: no memfd.img, no SysV segments.
         */
        public void writeImages(ImageDir dir, IntSupplier pagesIds, boolean pagesOnly) throws CryoException {
            if (pagesOnly) {
                for (DumpedObject o : objects.values()) {
                    if (!o.sysv && !o.written) {
                        writeObject(dir, o, pagesIds.getAsInt());
                        o.written = true;
                    }
                }
                return;
            }
            List<memfd_inode_entry> memfds = new ArrayList<>();
            List<ImageEntry> segments = new ArrayList<>();
            boolean newSegments = false, newMemfds = false;
            for (DumpedObject o : objects.values()) {
                if (o.sysv) {
                    if (sysvWithNamespace) {
                        continue; // in ipcns-shm-N.img of the container's namespace
                    }
                    if (o.segment == null) {
                        o.segment = sysvSegment(o);
                        newSegments = true;
                    }
                    segments.add(o.segment);
                    continue;
                }
                if (!o.written) {
                    writeObject(dir, o, pagesIds.getAsInt());
                    o.written = true;
                    newMemfds |= o.memfd != null;
                }
                if (o.memfd != null) {
                    memfds.add(o.memfd.build());
                }
            }
            if (!newSegments) {
                segments.clear(); // written by an earlier call, as they are
            }
            if (!newMemfds) {
                memfds.clear();
            }
            if (!segments.isEmpty()) {
                try {
                    dir.write(sysvImage(IPC_NS_ID), ImageFile.ofRecords("IPCNS_SHM", segments));
                } catch (IOException e) {
                    throw new CryoException("cannot dump: writing " + sysvImage(IPC_NS_ID) + " failed: " + e.getMessage(), e);
                }
            }
            if (!memfds.isEmpty()) {
                try {
                    dir.write(MEMFD_IMAGE, ImageFile.of("MEMFD_INODE", memfds));
                } catch (IOException e) {
                    throw new CryoException("cannot dump: writing " + MEMFD_IMAGE + " failed: " + e.getMessage(), e);
                }
            }
        }

        private void writeObject(ImageDir dir, DumpedObject o, int pagesId) throws CryoException {
            long[] w = o.where.get(0);
            String path = o.openPaths.isEmpty() ? mapFiles((int) w[0], w[1], w[2]) : o.openPaths.get(0);
            String what = "cannot dump pid " + w[0] + ": shared memory " + Long.toUnsignedString(o.shmid)
                    + " mapped at " + Long.toHexString(w[1]);
            int fd;
            try {
                fd = open(path, O_RDONLY);
            } catch (SyscallException e) {
                throw new CryoException(what + ": cannot open " + path + ": " + e.getMessage()
                        + (e.errno() == 1 ? " (Cryo needs CAP_SYS_ADMIN to open map_files)" : ""), e);
            }
            if (o.memfd != null) {
                try {
                    memfdState(fd, o.memfd);
                } catch (SyscallException e) {
                    Syscall.raw(Syscall.CLOSE, fd);
                    throw new CryoException(what + ": cannot read the memfd's size and seals: " + e.getMessage(), e);
                }
                o.size = o.memfd.getSize();
            }
            long size = (o.size + PAGE - 1) & ~(PAGE - 1);
            List<pagemap_entry> entries = new ArrayList<>();
            PageHashes before = chained ? parentHashes(o.shmid) : null;
            PageHashes hashes = chained ? new PageHashes(16) : null;
            java.nio.ByteBuffer chunk = chained
                    ? java.nio.ByteBuffer.allocateDirect(CHUNK).order(java.nio.ByteOrder.LITTLE_ENDIAN) : null;
            try (FileChannel in = channel(fd, false);
                 FileChannel out = dev.cryo.image.ImageAccess.create(dir.pagesPath(pagesId))) { // 0600: memory
                long at = 0;
                while (at < size) {
                    long data = Syscall.raw(Syscall.LSEEK, fd, at, SEEK_DATA);
                    if (data == -ENXIO || data >= size) {
                        break; // no data from here to the end
                    }
                    if (data < 0) {
                        throw new CryoException(what + ": lseek(SEEK_DATA) failed: " + SyscallException.describe((int) -data));
                    }
                    long hole = Syscall.raw(Syscall.LSEEK, fd, data, SEEK_HOLE);
                    if (hole < 0) {
                        hole = size;
                    }
                    long from = data & ~(PAGE - 1);
                    long to = Math.min(size, (hole + PAGE - 1) & ~(PAGE - 1));
                    if (chained) {
                        to = from + copyHashed(in, out, from, to, chunk, before, hashes, entries);
                    } else {
                        long copied = 0;
                        while (copied < to - from) {
                            long n = in.transferTo(from + copied, to - from - copied, out);
                            if (n <= 0) {
                                // the object is shorter than its mappings: what is past its end reads as nothing
                                to = from + ((copied + PAGE - 1) & ~(PAGE - 1));
                                if (copied % PAGE != 0) {
                                    out.write(java.nio.ByteBuffer.allocate((int) (PAGE - copied % PAGE)));
                                }
                                break;
                            }
                            copied += n;
                        }
                        if (to > from) {
                            entries.add(PageMap.entry(from, (to - from) / PAGE, PageMap.PE_PRESENT));
                            pagesWritten += (to - from) / PAGE;
                        }
                    }
                    at = Math.max(to, from + PAGE);
                }
                pagesScanned += size / PAGE;
            } catch (IOException e) {
                throw new CryoException(what + ": reading its pages failed: " + e.getMessage(), e);
            } finally {
                Syscall.raw(Syscall.CLOSE, fd);
            }
            unsummed.add(pagesId); // summed once the tree runs again (sumPages), not while it is frozen
            if (hashes != null) {
                try {
                    hashes.write(dir.resolve(HASHES + Long.toUnsignedString(o.shmid)));
                } catch (IOException e) {
                    throw new CryoException(what + ": writing its page hashes failed: " + e.getMessage(), e);
                }
            }
            try {
                List<com.google.protobuf.Message> image = new ArrayList<>(entries.size() + 1);
                image.add(pagemap_head.newBuilder().setPagesId(pagesId).build());
                image.addAll(entries);
                dir.write(pagemapName(o.shmid), ImageFile.of("PAGEMAP", image));
            } catch (IOException e) {
                throw new CryoException(what + ": writing " + pagemapName(o.shmid) + " failed: " + e.getMessage(), e);
            }
            long saved = entries.stream().filter(e -> PageMap.flags(e) == PageMap.PE_PRESENT)
                    .mapToLong(PageMap::pageCount).sum();
            long left = entries.stream().filter(e -> PageMap.flags(e) == PageMap.PE_PARENT)
                    .mapToLong(PageMap::pageCount).sum();
            log.info("shared memory %s: %d bytes, %d pages saved in pages-%d.img, %d left to the parent",
                    Long.toUnsignedString(o.shmid), o.size, saved, pagesId, left);
        }

        /**
         * Copies the pages [from, to) of the object into {@code out}, each page hashed into {@code hashes}; a page
         * {@code before} (the parent dump's hashes) has with the same hash is left to the parent instead. Adds the
         * runs to {@code entries}; returns how many bytes the object had from {@code from} (less than asked when it
         * ends before its mappings).
         */
        private long copyHashed(FileChannel in, FileChannel out, long from, long to, java.nio.ByteBuffer chunk,
                                PageHashes before, PageHashes hashes, List<pagemap_entry> entries) throws IOException {
            long at = from;
            long runStart = from;
            int runFlags = 0;
            while (at < to) {
                int len = (int) Math.min(chunk.capacity(), to - at);
                chunk.clear().limit(len);
                while (chunk.hasRemaining()) {
                    int n = in.read(chunk, at + chunk.position());
                    if (n <= 0) {
                        break; // the object ends here
                    }
                }
                int got = chunk.position();
                if (got % PAGE != 0) { // a last partial page reads as zeros past the end
                    chunk.limit(chunk.capacity());
                    while (chunk.position() % PAGE != 0) {
                        chunk.put((byte) 0);
                    }
                    got = chunk.position();
                }
                int writeFrom = -1;
                for (int off = 0; off < got; off += PAGE) {
                    long[] h = PageHashes.hash(chunk, off);
                    long offset = at + off;
                    hashes.add(offset, h[0], h[1]);
                    int flags = before != null && before.same(offset, h[0], h[1]) ? PageMap.PE_PARENT : PageMap.PE_PRESENT;
                    if (flags == PageMap.PE_PRESENT) {
                        pagesWritten++;
                        if (writeFrom < 0) {
                            writeFrom = off;
                        }
                    } else {
                        pagesInParent++;
                        if (writeFrom >= 0) {
                            write(out, chunk, writeFrom, off);
                            writeFrom = -1;
                        }
                    }
                    if (flags != runFlags) {
                        if (runFlags != 0) {
                            entries.add(PageMap.entry(runStart, (offset - runStart) / PAGE, runFlags));
                        }
                        runStart = offset;
                        runFlags = flags;
                    }
                }
                if (writeFrom >= 0) {
                    write(out, chunk, writeFrom, got);
                }
                at += got;
                if (got < len) {
                    break;
                }
            }
            if (runFlags != 0 && at > runStart) {
                entries.add(PageMap.entry(runStart, (at - runStart) / PAGE, runFlags));
            }
            return at - from;
        }

        /**
         * Puts the pages images written so far into the dump's manifest, read back from the page cache: their bytes
         * went from the objects to the files in the kernel (transferTo), past the sums the image writer keeps. Run
         * once the tree runs again, before the manifest is written.
         */
        public void sumPages(ImageDir dir) throws CryoException {
            for (int pagesId : unsummed) {
                Path pages = dir.pagesPath(pagesId);
                try (dev.cryo.image.ImageChecksums.Sink sink = dir.checksumSink(pages.getFileName().toString());
                     FileChannel in = FileChannel.open(pages, StandardOpenOption.READ)) {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(CHUNK);
                    while (in.read(b.clear()) > 0) {
                        sink.update(b.flip());
                    }
                } catch (IOException e) {
                    throw new CryoException("cannot dump: summing " + pages.getFileName() + " (shared memory) failed: "
                            + e.getMessage(), e);
                }
            }
            unsummed.clear();
        }

        private static void write(FileChannel out, java.nio.ByteBuffer chunk, int from, int to) throws IOException {
            java.nio.ByteBuffer b = chunk.duplicate();
            b.limit(to).position(from);
            while (b.hasRemaining()) {
                out.write(b);
            }
        }

        /** The page hashes the parent dump keeps for object {@code shmid}, or null (no parent, or none for it). */
        private PageHashes parentHashes(long shmid) {
            String name = HASHES + Long.toUnsignedString(shmid);
            if (parent == null || !parent.exists(name) || !parent.exists(pagemapName(shmid))) {
                return null;
            }
            try {
                return PageHashes.read(parent.resolve(name));
            } catch (IOException e) {
                log.warn("shared memory %s: the parent's page hashes cannot be read (%s): saved in full",
                        Long.toUnsignedString(shmid), e.getMessage());
                return null;
            }
        }

        /** A SysV segment's ipc_shm_entry (key, owner, mode, id, size) with its contents inline, as CRIU writes it. */
        private ImageEntry sysvSegment(DumpedObject o) throws CryoException {
            long[] w = o.where.get(0);
            String what = "cannot dump pid " + w[0] + ": SysV shared memory " + o.shmid;
            try {
                String ours = dev.cryo.engine.sys.DirectFiles.readLink("/proc/self/ns/ipc");
                String theirs = dev.cryo.engine.sys.DirectFiles.readLink("/proc/" + w[0] + "/ns/ipc");
                if (!ours.equals(theirs)) {
                    throw new CryoException(what + ": it lives in another IPC namespace (" + theirs
                            + ") than Cryo's (" + ours + "); run Cryo in the process's IPC namespace");
                }
            } catch (IOException e) {
                throw new CryoException(what + ": cannot read its IPC namespace: " + e.getMessage(), e);
            }
            Segment seg = segment(o.shmid);
            if (seg == null) {
                throw new CryoException(what + ": neither IPC_STAT nor /proc/sysvipc/shm knows it (the segment is gone)");
            }
            long size = seg.size();
            ipc_desc_entry desc = ipc_desc_entry.newBuilder().setKey(seg.key()).setUid(seg.uid())
                    .setGid(seg.gid()).setCuid(seg.cuid()).setCgid(seg.cgid())
                    .setMode(seg.mode()).setId((int) o.shmid).build();
            byte[] data = new byte[(int) ((size + 3) & ~3L)];
            String path = mapFiles((int) w[0], w[1], w[2]);
            try (FileChannel in = FileChannel.open(Path.of(path), StandardOpenOption.READ)) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(data, 0, (int) size);
                while (b.hasRemaining() && in.read(b, b.position()) > 0) {
                    // positional reads until the segment's end
                }
            } catch (IOException e) {
                throw new CryoException(what + ": reading its contents through " + path + " failed: " + e.getMessage(), e);
            }
            pagesScanned += (size + PAGE - 1) / PAGE;
            log.info("SysV shared memory %d (key %#x): %d bytes", o.shmid, desc.getKey(), size);
            return new ImageEntry(ipc_shm_entry.newBuilder().setDesc(desc).setSize(size).build(), data);
        }

        /** Size, owner, mode and seals of the memfd open at {@code fd}. */
        private static void memfdState(int fd, memfd_inode_entry.Builder e) throws SyscallException {
            NativeBuffer st = NativeBuffer.allocate(144);
            Syscall.call("fstat(memfd)", Syscall.FSTAT, fd, st.address());
            // struct stat on x86_64: st_mode 24, st_uid 28, st_gid 32, st_size 48
            e.setMode(st.getInt(24)).setUid(st.getInt(28)).setGid(st.getInt(32)).setSize(st.getLong(48));
            long seals = Syscall.raw(Syscall.FCNTL, fd, F_GET_SEALS);
            e.setSeals(seals < 0 ? 0 : (int) seals); // EINVAL: made without MFD_ALLOW_SEALING, so no seals
            java.lang.ref.Reference.reachabilityFence(st);
        }
    }

    // ---- restore

    /** The shared objects of one restore, made once each and mapped into every task that had them. */
    public static final class Restore implements AutoCloseable {
        /** An object as the engine holds it: its fd here and its size so far. */
        private static final class Made {
            final long shmid;
            final int fd;
            long size;
            int seals;

            Made(long shmid, int fd, long size) {
                this.shmid = shmid;
                this.fd = fd;
                this.size = size;
            }
        }

        private final ImageDir dir;
        private final Log log;
        private final Map<Long, Made> made = new HashMap<>();
        /** Per task: the fds of objects given to it so far (shmid to its fd there). */
        private final Map<Integer, Map<Long, Integer>> given = new HashMap<>();
        /** memfd.img by inode_id, read when a memfd is first needed */
        private Map<Long, memfd_inode_entry> memfds;
        /** SysV segments: image id to the id they have now */
        private final Map<Long, Long> segments = new HashMap<>();
        /** segments that were marked removed (IPC_RMID) at the dump */
        private final List<Long> destroyed = new ArrayList<>();
        /** SysV segments Cryo holds while the tasks attach them, with the owner and mode each gets back. */
        private final Map<Long, ipc_desc_entry> owners = new java.util.LinkedHashMap<>();
        /** segments this restore made, removed again if it fails */
        private final List<Long> created = new ArrayList<>();
        /** the image of a container's ipc namespace, whose segments IpcNamespace made with their ids; else null */
        private String namespaceImage;

        /** The restore failed: the SysV segments it made are removed (the fds go at {@link #close}). */
        public void abort() {
            for (long id : created) {
                Syscall.raw(SHMCTL, id, IPC_RMID, 0);
            }
            created.clear();
            destroyed.clear();
        }

        public Restore(ImageDir dir, Log log) {
            this.dir = dir;
            this.log = log;
        }

        /** The restore's shared objects, for the fd kinds that meet them (a memfd held open calls {@link #openMemfd}). */
        public static Restore of(FdRestoreContext ctx) {
            return (Restore) ctx.state().get(Restore.class);
        }

        /** Makes this the restore {@link #of(FdRestoreContext)} gives. */
        public void register(FdRestoreContext ctx) {
            ctx.state().put(Restore.class, this);
        }

        /**
         * The tasks live in an ipc namespace of their own, whose SysV segments {@link IpcNamespace} makes (from
         * {@code image}) with the ids they had: a task attaches its segments by those ids.
         */
        public void sysvFromNamespace(String image) {
            namespaceImage = image;
        }

        /** Reads the object images before any task is made, so that a missing one leaves nothing behind. */
        public void check(int pid, List<vma_entry> vmas) throws CryoException {
            for (vma_entry v : vmas) {
                if (isAnonShared(v) && !dir.exists(pagemapName(v.getShmid()))) {
                    throw new CryoException("cannot restore pid " + pid + ": the shared memory mapped at "
                            + Long.toHexString(v.getStart()) + " has no " + pagemapName(v.getShmid()));
                }
                String sysv = namespaceImage != null ? namespaceImage : sysvImage(IPC_NS_ID);
                if (isSysv(v) && !dir.exists(sysv)) {
                    throw new CryoException("cannot restore pid " + pid + ": the SysV shared memory attached at "
                            + Long.toHexString(v.getStart()) + " has no " + sysv);
                }
                if (isMemfd(v) && !dir.exists(MEMFD_IMAGE)) {
                    throw new CryoException("cannot restore pid " + pid + ": the memfd mapped at "
                            + Long.toHexString(v.getStart()) + " has no " + MEMFD_IMAGE);
                }
            }
        }

        /** Maps {@code v} (a VMA_ANON_SHARED entry) into the task {@code remote} drives, at its place. */
        public void map(RemoteSyscall remote, vma_entry v) throws CryoException, SyscallException {
            long len = v.getEnd() - v.getStart();
            Made m = object(remote.pid(), v.getShmid(), v.getPgoff() + len, null);
            mmap(remote, v, m, v.getProt(), MAP_SHARED);
        }

        /**
         * Maps {@code v} (a VMA_AREA_MEMFD entry whose shmid is {@code file}, a MEMFD entry of files.img), shared or
         * private as it was, with {@code prot} (writable while its private pages go in).
         */
        public void mapMemfd(RemoteSyscall remote, vma_entry v, file_entry file, int prot)
                throws CryoException, SyscallException {
            memfd_inode_entry inode = memfdInode(remote.pid(), file);
            Made m = object(remote.pid(), Integer.toUnsignedLong(inode.getShmid()), inode.getSize(), inode);
            mmap(remote, v, m, prot, v.getFlags() & (MAP_SHARED | 2 /* MAP_PRIVATE */));
        }

        /**
         * An fd in the task for the memfd that {@code file} (a MEMFD entry of files.img) names: a new open file
         * description of the one object, opened with {@code flags} (an fd's restore then sets its offset).
         */
        public int openMemfd(RemoteSyscall remote, file_entry file, int flags) throws CryoException, SyscallException {
            memfd_inode_entry inode = memfdInode(remote.pid(), file);
            Made m = object(remote.pid(), Integer.toUnsignedLong(inode.getShmid()), inode.getSize(), inode);
            int ours = open("/proc/self/fd/" + m.fd, flags & ~O_CLOEXEC);
            try {
                return inject(remote, ours);
            } finally {
                Syscall.raw(Syscall.CLOSE, ours);
            }
        }

        private void mmap(RemoteSyscall remote, vma_entry v, Made m, int prot, int sharing) throws SyscallException {
            long shmid = m.shmid;
            int fd = given.computeIfAbsent(remote.pid(), k -> new HashMap<>()).getOrDefault(shmid, -1);
            if (fd < 0) {
                fd = inject(remote, m.fd);
                given.get(remote.pid()).put(shmid, fd);
            }
            remote.call("mmap shared object " + Long.toUnsignedString(shmid) + " at " + Long.toHexString(v.getStart()),
                    Syscall.MMAP, v.getStart(), v.getEnd() - v.getStart(), prot, sharing | MAP_FIXED, fd, v.getPgoff());
        }

        private memfd_inode_entry memfdInode(int pid, file_entry file) throws CryoException {
            if (memfds == null) {
                try {
                    memfds = new HashMap<>();
                    for (memfd_inode_entry e : dir.read(MEMFD_IMAGE).entries(memfd_inode_entry.class)) {
                        memfds.put(e.getInodeId(), e);
                    }
                } catch (IOException e) {
                    memfds = null;
                    throw new CryoException("cannot restore pid " + pid + ": cannot read " + MEMFD_IMAGE + ": "
                            + e.getMessage(), e);
                }
            }
            memfd_inode_entry e = file.hasMemfd() ? memfds.get(Integer.toUnsignedLong(file.getMemfd().getInodeId())) : null;
            if (e == null) {
                throw new CryoException("cannot restore pid " + pid + ": files.img entry " + file.getId()
                        + " names no memfd of " + MEMFD_IMAGE);
            }
            return e;
        }

        /**
         * Attaches SysV segment {@code v.shmid} in the task at {@code v}'s place (the VMA at page offset 0 attaches the
         * whole segment; later ones only take their protection). The segment is found by its id and key, or made
         * again with them (the id through /proc/sys/kernel/shm_next_id), and given its contents once.
         */
        public void attachSysv(RemoteSyscall remote, vma_entry v) throws CryoException, SyscallException {
            // in a container's own ipc namespace the segment was made with its id before any task (IpcNamespace)
            long id = namespaceImage != null ? v.getShmid() : sysvSegment(remote.pid(), v.getShmid());
            if (v.getPgoff() == 0) {
                int flags = ((v.getFdflags() & 3) == O_RDONLY ? SHM_RDONLY : 0) | ((v.getProt() & 4) != 0 ? SHM_EXEC : 0);
                remote.call("shmat " + id + " at " + Long.toHexString(v.getStart()), SHMAT, id, v.getStart(), flags);
            }
            long len = v.getEnd() - v.getStart();
            remote.call("mprotect " + Long.toHexString(v.getStart()), Syscall.MPROTECT, v.getStart(), len, v.getProt());
        }

        /** The id of the segment the image calls {@code imageId}, made and filled the first time it is asked for. */
        private long sysvSegment(int pid, long imageId) throws CryoException {
            Long got = segments.get(imageId);
            if (got != null) {
                return got;
            }
            String what = "cannot restore pid " + pid + ": SysV shared memory " + imageId;
            ImageEntry e = sysvEntry(pid, imageId);
            ipc_shm_entry shm = (ipc_shm_entry) e.message();
            ipc_desc_entry d = shm.getDesc();
            long id;
            Segment there = segment(d.getId());
            if (there != null && there.key() == d.getKey() && there.size() == shm.getSize()) {
                id = d.getId(); // still there (the dumped process was left running, or the segment outlived it)
            } else {
                if (d.getKey() != 0 && Syscall.raw(SHMGET, d.getKey(), 0, 0) >= 0) {
                    throw new CryoException(what + ": key " + String.format("%#x", d.getKey())
                            + " is taken by another segment (ipcs -m shows it); remove it or restore elsewhere");
                }
                writeNextId(d.getId());
                long r = Syscall.raw(SHMGET, d.getKey(), shm.getSize(), IPC_CREAT | IPC_EXCL | (d.getMode() & 0777));
                writeNextId(-1);
                if (r < 0) {
                    throw new CryoException(what + ": shmget failed: " + SyscallException.describe((int) -r));
                }
                id = r;
                created.add(id);
                if (id != d.getId()) {
                    log.warn("SysV shared memory %d comes back as %d (its id was taken)", d.getId(), id);
                }
            }
            // Cryo's until every task has attached it, then given back (finish): root may not attach another
            // user's 0600 segment without CAP_IPC_OWNER, and neither may the tasks while they are still root, but
            // with CAP_SYS_ADMIN (a container's root has that one) root may change a segment's owner
            setOwner(id, (int) Syscall.raw(Syscall.GETEUID), (int) Syscall.raw(Syscall.GETEGID), 0600);
            owners.put(id, d);
            fillSysv(what, id, shm.getSize(), e.payload());
            if ((d.getMode() & SHM_DEST) != 0) {
                destroyed.add(id); // removed once attached, as it was
            }
            segments.put(imageId, id);
            return id;
        }

        private static void writeNextId(long id) {
            try {
                java.nio.file.Files.writeString(Path.of("/proc/sys/kernel/shm_next_id"), Long.toString(id));
            } catch (IOException ignored) {
                // without it the kernel picks the id, and the restore says so
            }
        }

        private ImageEntry sysvEntry(int pid, long id) throws CryoException {
            try {
                String name = sysvImage(IPC_NS_ID);
                if (dir.exists(name)) {
                    for (ImageEntry e : dir.read(name).records()) {
                        if (((ipc_shm_entry) e.message()).getDesc().getId() == id) {
                            return e;
                        }
                    }
                }
            } catch (IOException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot read " + sysvImage(IPC_NS_ID) + ": "
                        + e.getMessage(), e);
            }
            throw new CryoException("cannot restore pid " + pid + ": SysV shared memory " + id + " is not in "
                    + sysvImage(IPC_NS_ID));
        }

        /** Writes the dumped contents into segment {@code id}, attached in Cryo for the time it takes. */
        private static void fillSysv(String what, long id, long size, byte[] data) throws CryoException {
            long at = Syscall.raw(SHMAT, id, 0, 0);
            if (at < 0 && at > -4096) {
                throw new CryoException(what + ": shmat in Cryo failed: " + SyscallException.describe((int) -at));
            }
            try (FileChannel out = FileChannel.open(Path.of(mapFiles((int) ProcessHandle.current().pid(), at,
                    at + ((size + PAGE - 1) & ~(PAGE - 1)))), StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(data, 0, (int) size);
                while (b.hasRemaining()) {
                    out.write(b, b.position());
                }
            } catch (IOException e) {
                throw new CryoException(what + ": writing its contents failed: " + e.getMessage(), e);
            } finally {
                Syscall.raw(SHMDT, at);
            }
        }

        /** Closes the fds {@link #map} put into this task; its mappings keep the objects. */
        public void doneWith(RemoteSyscall remote) throws SyscallException {
            Map<Long, Integer> fds = given.remove(remote.pid());
            if (fds != null) {
                for (int fd : fds.values()) {
                    remote.call("close", Syscall.CLOSE, fd);
                }
            }
        }

        /**
         * Once every task has its mappings and before any runs: seals the memfds as they were, and removes again the
         * SysV segments that were marked removed at the dump.
         */
        public void finish() {
            for (Made m : made.values()) {
                if (m.seals != 0) {
                    long r = Syscall.raw(Syscall.FCNTL, m.fd, F_ADD_SEALS, m.seals);
                    if (r < 0) {
                        log.warn("memfd %s: its seals %#x could not be set again (%s)", Long.toUnsignedString(m.shmid),
                                m.seals, SyscallException.describe((int) -r));
                    }
                    m.seals = 0;
                }
            }
            for (Map.Entry<Long, ipc_desc_entry> o : owners.entrySet()) {
                ipc_desc_entry d = o.getValue();
                int err = setOwner(o.getKey(), d.getUid(), d.getGid(), d.getMode());
                if (err != 0) {
                    log.warn("SysV shared memory %d: giving it back to uid %d gid %d, mode %o (IPC_SET) failed: %s; "
                            + "it stays Cryo's", o.getKey(), d.getUid(), d.getGid(), d.getMode() & 0777,
                            SyscallException.describe(err));
                }
            }
            owners.clear();
            for (long id : destroyed) {
                Syscall.raw(SHMCTL, id, IPC_RMID, 0);
            }
            destroyed.clear();
            created.clear(); // the restore holds: its segments stay
        }

        /** Drops the engine's fds (the tasks' mappings keep the objects). */
        @Override
        public void close() {
            for (Made m : made.values()) {
                Syscall.raw(Syscall.CLOSE, m.fd);
            }
            made.clear();
        }

        private static int inject(RemoteSyscall remote, int ours) throws SyscallException {
            if (FdPassing.needed(remote.pid())) { // a container's task: Cryo has no pid in its namespace
                return FdPassing.give(remote.pid(), remote, ours);
            }
            long me = ProcessHandle.current().pid();
            int pidfd = (int) remote.call("pidfd_open(cryo)", Syscall.PIDFD_OPEN, me, 0);
            try {
                return (int) remote.call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, ours, 0);
            } finally {
                remote.raw(Syscall.CLOSE, pidfd);
            }
        }

        /**
         * The object {@code shmid}, at least {@code size} bytes long: made and filled the first time (a memfd when
         * {@code memfd} is given, else a shared anonymous object).
         */
        private Made object(int pid, long shmid, long size, memfd_inode_entry memfd) throws CryoException {
            String what = "cannot restore pid " + pid + ": " + (memfd != null ? "memfd:" + memfd.getName() + " ("
                    + Long.toUnsignedString(shmid) + ")" : "shared memory " + Long.toUnsignedString(shmid));
            Made m = made.get(shmid);
            try {
                if (m == null) {
                    PageMap pm = pagemap(shmid);
                    long need = size;
                    if (memfd == null) {
                        for (pagemap_entry e : pm.entries()) {
                            need = Math.max(need, e.getVaddr() + PageMap.pageCount(e) * PAGE);
                        }
                    }
                    m = new Made(shmid, memfd != null ? makeMemfd(memfd.getName(), need) : makeAnon(need), need);
                    made.put(shmid, m);
                    if (memfd != null) {
                        m.seals = memfd.getSeals();
                        if (memfd.hasMode() && (memfd.getMode() & 07777) != 0777) {
                            Syscall.call("fchmod", FCHMOD, m.fd, memfd.getMode() & 07777);
                        }
                    }
                    if (filler == null) {
                        fill(m, pm, memfd != null ? need : -1);
                    } else {
                        Made filling = m;
                        long exact = memfd != null ? need : -1;
                        fills.add(filler.submit(() -> {
                            try {
                                fill(filling, pm, exact);
                            } catch (IOException | SyscallException e) {
                                throw new CryoException(what + ": " + e.getMessage(), e);
                            }
                            return null;
                        }));
                    }
                    log.debug("%s made (%d bytes)%s", what.substring(what.indexOf(": ") + 2), need,
                            filler == null ? "" : ", its bytes going in on the page writer");
                } else if (m.size < size && memfd == null) {
                    Syscall.call("ftruncate", FTRUNCATE, m.fd, size);
                    m.size = size;
                }
                return m;
            } catch (IOException | SyscallException e) {
                throw new CryoException(what + ": " + e.getMessage(), e);
            }
        }

        /** Where objects get their bytes (null: at once, on the caller's thread). */
        private java.util.concurrent.ExecutorService filler;
        /** Fills handed to {@link #filler}; a failed one throws what names its object. */
        private final List<java.util.concurrent.Future<Void>> fills = new ArrayList<>();

        /**
         * Objects made from now on get their bytes on {@code writer}: a task maps an object before its bytes are in,
         * and {@link #awaitFills} comes before any task runs.
         */
        public void fillOn(java.util.concurrent.ExecutorService writer) {
            filler = writer;
        }

        /** Every object's bytes are in: waits for the fills handed off, and names the first that failed. */
        public void awaitFills() throws CryoException {
            try {
                for (java.util.concurrent.Future<Void> f : fills) {
                    dev.cryo.engine.ptrace.Tracer.await(f);
                }
            } finally {
                fills.clear();
            }
        }

        /** A new memfd called {@code name}, {@code size} bytes long, sealable (its seals come at {@link #close}). */
        private static int makeMemfd(String name, long size) throws SyscallException {
            NativeBuffer n = cString(name);
            int fd = (int) Syscall.call("memfd_create(" + name + ")", MEMFD_CREATE, n.address(),
                    MFD_CLOEXEC | MFD_ALLOW_SEALING);
            java.lang.ref.Reference.reachabilityFence(n);
            Syscall.call("ftruncate", FTRUNCATE, fd, size);
            return fd;
        }

        private PageMap pagemap(long shmid) throws IOException {
            return pagemap(dir, shmid);
        }

        private static PageMap pagemap(ImageDir in, long shmid) throws IOException {
            ImageFile img = in.read(pagemapName(shmid));
            List<com.google.protobuf.Message> entries = img.entries();
            if (entries.isEmpty() || !(entries.get(0) instanceof pagemap_head head)) {
                throw new IOException(in.path() + "/" + pagemapName(shmid) + " has no pagemap_head");
            }
            List<pagemap_entry> runs = new ArrayList<>();
            for (com.google.protobuf.Message e : entries.subList(1, entries.size())) {
                runs.add((pagemap_entry) e);
            }
            return new PageMap(head.getPagesId(), runs);
        }

        /** A new shared anonymous object of {@code size} bytes, held by an fd of the engine. */
        private static int makeAnon(long size) throws SyscallException {
            long at = Syscall.raw(Syscall.MMAP, 0, size, PROT_RW, MAP_SHARED | MAP_ANON, -1, 0);
            if (at < 0 && at > -4096) {
                throw new SyscallException("mmap of " + size + " shared bytes", (int) -at);
            }
            try {
                return open(mapFiles((int) ProcessHandle.current().pid(), at, at + size), O_RDWR);
            } finally {
                Syscall.raw(Syscall.MUNMAP, at, size);
            }
        }

        /**
         * The object's bytes from its pages images; {@code exact}: a memfd's size, given back once whole pages are in
         * (-1: none to give back).
         */
        private void fill(Made m, PageMap pm, long exact) throws IOException, SyscallException {
            fillPages(m, pm);
            if (exact >= 0) {
                // fill writes whole pages: a memfd whose size is not a page multiple gets it back exactly
                Syscall.call("ftruncate", FTRUNCATE, m.fd, exact);
            }
        }

        private void fillPages(Made m, PageMap pm) throws IOException {
            if (pm.entries().isEmpty()) {
                return;
            }
            String name = pagemapName(m.shmid);
            try (FileChannel out = channel(m.fd, true);
                 ChainPages chain = new ChainPages(dir, pm, name, level -> pagemap(level, m.shmid))) {
                // the object's bytes at their offsets (a shared memory pagemap's addresses are offsets), each run
                // from the dump of the chain that holds it
                chain.copyAll((in, offset, at, len) -> {
                    for (long done = 0; done < len; ) {
                        long n = out.transferFrom(in.position(offset + done), at + done, len - done);
                        if (n <= 0) {
                            throw new IOException(name + ": its pages image ends at byte " + (offset + done)
                                    + ", before its pagemap says");
                        }
                        done += n;
                    }
                });
            }
        }
    }
}
