package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.fd_types;
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
 * Shared anonymous memory: the shmem object (an unlinked file of the kernel's internal tmpfs) behind a
 * {@code MAP_SHARED|MAP_ANONYMOUS} mapping or {@code /dev/zero} mapped shared, which {@code /proc/PID/maps} shows as
 * {@code /dev/zero (deleted)}. Several VMAs, of one task or of several, may map one object (after a partial
 * {@code mremap}, or across {@code fork}); the object is saved once and comes back as one object.
 *
 * <p>Images, as CRIU writes them: a VMA is {@code VMA_AREA_REGULAR|VMA_ANON_SHARED} with {@code MAP_SHARED|MAP_ANONYMOUS}
 * and {@code shmid} = the object's inode number; the object's pages are in {@code pagemap-shmem-SHMID.img} (a
 * PAGEMAP image whose {@code vaddr}s are byte offsets into the object) and the {@code pages-N.img} its head names.
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
 *   the object), {@link Restore#close()} the engine's own once every task is built.</li>
 * </ul>
 * Incremental dumps save every object in full each time (correct, not incremental).
 */
public final class SharedMemory {
    public static final int VMA_AREA_REGULAR = 1, VMA_FILE_PRIVATE = 1 << 6, VMA_FILE_SHARED = 1 << 7,
            VMA_ANON_SHARED = 1 << 8, VMA_AREA_MEMFD = 1 << 14;
    /** memfd.img: one memfd_inode_entry per memfd object, which files.img's MEMFD entries name by inode_id. */
    public static final String MEMFD_IMAGE = "memfd.img";
    static final int F_ADD_SEALS = 1033, F_GET_SEALS = 1034, MEMFD_CREATE = 319, MFD_CLOEXEC = 1,
            MFD_ALLOW_SEALING = 2, FCHMOD = 91;
    public static final int MAP_SHARED = 1, MAP_FIXED = 0x10, MAP_ANON = 0x20;
    static final int PROT_RW = 3, O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000, AT_FDCWD = -100;
    static final int SEEK_DATA = 3, SEEK_HOLE = 4, ENXIO = 6, FTRUNCATE = 77, F_SETFD = 2;
    static final long PAGE = 4096;

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

    /** The name memfd_create was given, from the path /proc shows. */
    static String memfdName(String path) {
        String n = path.substring("/memfd:".length());
        return n.endsWith(" (deleted)") ? n.substring(0, n.length() - " (deleted)".length()) : n;
    }

    /** Whether an image's VMA maps a shared anonymous object. */
    public static boolean isAnonShared(vma_entry v) {
        return (v.getStatus() & VMA_ANON_SHARED) != 0;
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
            /** for a memfd: its memfd.img entry so far (size, owner and seals are read while frozen) */
            memfd_inode_entry.Builder memfd;
            final List<long[]> where = new ArrayList<>(); // {pid, start, end, page offset in bytes}
            /** where a memfd is opened from: /proc/PID/map_files/START-END or /proc/PID/fd/N */
            final List<String> openPaths = new ArrayList<>();

            DumpedObject(long shmid) {
                this.shmid = shmid;
            }
        }

        private final Log log;
        private final Map<Long, DumpedObject> objects = new LinkedHashMap<>();
        private long pagesScanned, pagesWritten;
        private int nextMemfdInode = 1;

        public Dump(Log log) {
            this.log = log;
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
            DumpedObject o = objects.computeIfAbsent(inode, DumpedObject::new);
            if (o.memfd == null) {
                o.memfd = memfd_inode_entry.newBuilder().setName(memfdName(procPath)).setShmid((int) inode)
                        .setInodeId(nextMemfdInode++).setUid(0).setGid(0).setSize(0).setSeals(0);
            }
            o.where.add(new long[]{pid, start, end, 0});
            o.openPaths.add(openPath);
            return file_entry.newBuilder().setId(id).setType(fd_types.MEMFD).setMemfd(memfd_file_entry.newBuilder()
                    .setId(id).setFlags(flags).setPos(pos).setInodeId((int) o.memfd.getInodeId())
                    .setFown(fown_entry.newBuilder().setUid(0).setEuid(0).setSignum(0).setPidType(0).setPid(0)))
                    .build();
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

        /**
         * Saves every object's pages once: pagemap-shmem-SHMID.img and its pages-N.img, N from {@code pagesIds}.
         * Runs while every task that maps the objects is frozen.
         */
        public void writeImages(ImageDir dir, IntSupplier pagesIds) throws CryoException {
            List<memfd_inode_entry> memfds = new ArrayList<>();
            for (DumpedObject o : objects.values()) {
                writeObject(dir, o, pagesIds.getAsInt());
                if (o.memfd != null) {
                    memfds.add(o.memfd.build());
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
            try (FileChannel in = channel(fd, false);
                 FileChannel out = FileChannel.open(dir.pagesPath(pagesId), StandardOpenOption.CREATE,
                         StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
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
                    at = Math.max(to, from + PAGE);
                }
                pagesScanned += size / PAGE;
            } catch (IOException e) {
                throw new CryoException(what + ": reading its pages failed: " + e.getMessage(), e);
            } finally {
                Syscall.raw(Syscall.CLOSE, fd);
            }
            try {
                List<com.google.protobuf.Message> image = new ArrayList<>(entries.size() + 1);
                image.add(pagemap_head.newBuilder().setPagesId(pagesId).build());
                image.addAll(entries);
                dir.write(pagemapName(o.shmid), ImageFile.of("PAGEMAP", image));
            } catch (IOException e) {
                throw new CryoException(what + ": writing " + pagemapName(o.shmid) + " failed: " + e.getMessage(), e);
            }
            log.info("shared memory %s: %d bytes, %d pages saved in pages-%d.img", Long.toUnsignedString(o.shmid),
                    o.size, entries.stream().mapToLong(PageMap::pageCount).sum(), pagesId);
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

        public Restore(ImageDir dir, Log log) {
            this.dir = dir;
            this.log = log;
        }

        /** Reads the object images before any task is made, so that a missing one leaves nothing behind. */
        public void check(int pid, List<vma_entry> vmas) throws CryoException {
            for (vma_entry v : vmas) {
                if (isAnonShared(v) && !dir.exists(pagemapName(v.getShmid()))) {
                    throw new CryoException("cannot restore pid " + pid + ": the shared memory mapped at "
                            + Long.toHexString(v.getStart()) + " has no " + pagemapName(v.getShmid()));
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

        /** Closes the fds {@link #map} put into this task; its mappings keep the objects. */
        public void doneWith(RemoteSyscall remote) throws SyscallException {
            Map<Long, Integer> fds = given.remove(remote.pid());
            if (fds != null) {
                for (int fd : fds.values()) {
                    remote.call("close", Syscall.CLOSE, fd);
                }
            }
        }

        /** Seals the memfds as they were (once every task has mapped them), then drops the engine's fds. */
        @Override
        public void close() {
            for (Made m : made.values()) {
                if (m.seals != 0) {
                    long r = Syscall.raw(Syscall.FCNTL, m.fd, F_ADD_SEALS, m.seals);
                    if (r < 0) {
                        log.warn("memfd %s: its seals %#x could not be set again (%s)", Long.toUnsignedString(m.shmid),
                                m.seals, SyscallException.describe((int) -r));
                    }
                }
                Syscall.raw(Syscall.CLOSE, m.fd);
            }
            made.clear();
        }

        private static int inject(RemoteSyscall remote, int ours) throws SyscallException {
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
                    fill(m, pm);
                    log.debug("%s made (%d bytes)", what.substring(what.indexOf(": ") + 2), need);
                } else if (m.size < size && memfd == null) {
                    Syscall.call("ftruncate", FTRUNCATE, m.fd, size);
                    m.size = size;
                }
                return m;
            } catch (IOException | SyscallException e) {
                throw new CryoException(what + ": " + e.getMessage(), e);
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
            ImageFile img = dir.read(pagemapName(shmid));
            List<com.google.protobuf.Message> entries = img.entries();
            if (entries.isEmpty() || !(entries.get(0) instanceof pagemap_head head)) {
                throw new IOException(pagemapName(shmid) + " has no pagemap_head");
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

        private void fill(Made m, PageMap pm) throws IOException {
            if (pm.entries().isEmpty()) {
                return;
            }
            Path pages = dir.pagesPath(pm.pagesId());
            try (FileChannel in = FileChannel.open(pages, StandardOpenOption.READ);
                 FileChannel out = channel(m.fd, true)) {
                long offset = 0;
                for (PageMap.PageRun r : pm.runs()) {
                    if (!r.present()) {
                        continue;
                    }
                    long len = r.nrPages() * PAGE;
                    long done = 0;
                    while (done < len) {
                        long n = out.transferFrom(in.position(offset + done), r.vaddr() + done, len - done);
                        if (n <= 0) {
                            throw new IOException(pages.getFileName() + " ends at byte " + (offset + done)
                                    + ", before its pagemap says");
                        }
                        done += n;
                    }
                    offset += len;
                }
            }
        }
    }
}
