package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.ghost_chunk_entry;
import dev.cryo.image.proto.ghost_file_entry;
import dev.cryo.image.proto.reg_file_entry;
import dev.cryo.image.proto.remap_file_path_entry;
import dev.cryo.image.proto.remap_type;
import dev.cryo.image.proto.timeval;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Files a process holds open or mapped after their name was unlinked, which /proc shows as {@code PATH (deleted)}.
 * Two cases, as CRIU has them:
 * <ul>
 *   <li>a <b>ghost</b>: the inode has no name left (nlink 0). Its contents go into {@code ghost-file-ID.img}
 *   (a ghost_file_entry with owner, mode and times, then the bytes, or with {@code --ghost-fiemap} the data extents
 *   as ghost_chunk_entry + bytes), up to {@code --ghost-limit} (1 MiB by default; a bigger one is refused before the
 *   target is touched). Restore makes a file with that content, opens or maps it under the original path, and
 *   unlinks it before the task runs: it comes back deleted, same content, same offset.</li>
 *   <li>a <b>linked remap</b>: the name was unlinked but the inode lives on under another name (nlink &gt; 0), so
 *   a copy would split one file in two. With {@code --link-remap} the dump links the inode as
 *   {@code DIR/link_remap.ID} next to its old name (CRIU's name), the restore opens it through that link and then
 *   removes the link. Without the option the dump is refused and says so. A dump that fails, or leaves the tree
 *   running ({@code -R}), removes the links it made, as CRIU does.</li>
 * </ul>
 * Either way {@code remap-fpath.img} holds one remap_file_path_entry per files.img entry that was deleted
 * ({@code orig_id} = that entry, {@code remap_id} = the ghost's id or the link's files.img entry), and the entry
 * itself carries the original path without the {@code " (deleted)"} mark.
 */
public final class DeletedFiles {
    public static final String SUFFIX = " (deleted)";
    public static final String REMAP_IMAGE = "remap-fpath.img";
    static final int S_IFMT = 0170000, S_IFREG = 0100000, S_IFDIR = 0040000, S_IFIFO = 0010000;
    static final long SEEK_DATA = 3, SEEK_HOLE = 4;
    /** one image entry's payload is one Java array */
    static final long MAX_GHOST = Integer.MAX_VALUE - 4096;

    private DeletedFiles() {
    }

    /** CRIU's name of the image that holds ghost {@code id}. */
    public static String ghostImage(long id) {
        return "ghost-file-" + Long.toHexString(id) + ".img";
    }

    /** True when /proc shows {@code target} as a path whose name was unlinked. */
    public static boolean isDeleted(String target) {
        return target.startsWith("/") && target.endsWith(SUFFIX);
    }

    /** The path as it was before the unlink. */
    public static String originalPath(String target) {
        return isDeleted(target) ? target.substring(0, target.length() - SUFFIX.length()) : target;
    }

    /** What stat says of the open file (through /proc/PID/fd/N or /proc/PID/map_files/A-B, which reach it still). */
    record Inode(long dev, long ino, int mode, int nlink, int uid, int gid, long size, long atimeNs, long mtimeNs) {
        static Inode of(String openPath) throws IOException {
            Map<String, Object> a = Files.readAttributes(Path.of(openPath), "unix:*");
            return new Inode((Long) a.get("dev"), (Long) a.get("ino"), (Integer) a.get("mode"),
                    (Integer) a.get("nlink"), (Integer) a.get("uid"), (Integer) a.get("gid"), (Long) a.get("size"),
                    ((FileTime) a.get("lastAccessTime")).to(TimeUnit.NANOSECONDS),
                    ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS));
        }

        boolean regular() {
            return (mode & S_IFMT) == S_IFREG;
        }

        /** st_dev as the kernel encodes it inside (major &lt;&lt; 20 | minor), the form CRIU's images carry. */
        int kernelDev() {
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
            return (int) ((major << 20) | (minor & 0xfffff));
        }
    }

    /**
     * A file literally named "X (deleted)" is not deleted: the name reaches the same inode. Null when it is not
     * deleted, else its inode as the open file sees it.
     */
    static Inode deletedInode(String target, String openPath) throws IOException {
        Inode inode = Inode.of(openPath);
        try {
            Map<String, Object> named = Files.readAttributes(Path.of(target), "unix:dev,ino");
            if ((Long) named.get("dev") == inode.dev() && (Long) named.get("ino") == inode.ino()) {
                return null;
            }
        } catch (IOException absent) {
            // no such name: the usual case
        }
        return inode;
    }

    /** How many names of {@code /dev/shm} {@link #otherName} looks at, at most. */
    static final int OTHER_NAME_BUDGET = 20_000;

    /** Where POSIX shared memory objects and named semaphores live: {@code shm_open} and {@code sem_open} names. */
    static final String POSIX_SHM_DIR = "/dev/shm/";

    /**
     * Another name in {@code /dev/shm} of {@code inode}, a POSIX shared memory object whose name {@code path} was
     * unlinked while it still has links, as task {@code pid} sees it (looked up through its root); null when there is
     * none, or {@code path} is no POSIX object's. glibc's {@code sem_open} makes {@code /dev/shm/sem.XXXXXX}, maps it,
     * links it as {@code /dev/shm/sem.NAME} and unlinks the first: every named semaphore a process holds is mapped
     * by a deleted name, which CRIU refuses without {@code --link-remap}. The semaphore's own name opens the same
     * object, and is what another process's {@code sem_open} finds after the restore.
     */
    static String otherName(int pid, String path, Inode inode) {
        if (!path.startsWith(POSIX_SHM_DIR) || path.indexOf('/', POSIX_SHM_DIR.length()) >= 0) {
            return null;
        }
        Path dir = Path.of("/proc/" + pid + "/root" + POSIX_SHM_DIR);
        int budget = OTHER_NAME_BUDGET;
        try (java.nio.file.DirectoryStream<Path> names = Files.newDirectoryStream(dir)) {
            for (Path p : names) {
                if (--budget < 0) {
                    return null;
                }
                try {
                    Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino", java.nio.file.LinkOption.NOFOLLOW_LINKS);
                    if ((Long) a.get("dev") == inode.dev() && (Long) a.get("ino") == inode.ino()) {
                        return POSIX_SHM_DIR + p.getFileName();
                    }
                } catch (IOException gone) {
                    // removed meanwhile: the next name
                }
            }
        } catch (IOException | RuntimeException e) {
            return null; // no /dev/shm there, or unreadable: no other name known
        }
        return null;
    }

    /**
     * Refuses, before the target is touched, a deleted file Cryo cannot bring back with these options.
     *
     * @param what     "fd 4" or "the mapping at 7f..": how the process holds it
     * @param openPath a /proc path that opens the file
     */
    public static void check(int pid, String what, String target, String openPath, FileOptions options, Dump dump)
            throws CryoException {
        Inode inode;
        try {
            inode = deletedInode(originalPath(target), openPath);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": " + what + " (" + target + "): stat failed: "
                    + e.getMessage(), e);
        }
        if (inode == null) {
            return;
        }
        String where = "cannot dump pid " + pid + ": " + what + " is the deleted file " + originalPath(target);
        if (inode.nlink() > 0) {
            if ((inode.mode() & S_IFMT) == S_IFDIR) {
                throw new CryoException(where + ", a directory that was moved away, which Cryo cannot dump yet");
            }
            if (!options.linkRemap()) {
                if (dump.otherName(pid, originalPath(target), inode) != null) {
                    return; // reopened by that name (see note)
                }
                throw new CryoException(where + ", unlinked while open but still linked elsewhere ("
                        + inode.nlink() + " link" + (inode.nlink() == 1 ? "" : "s") + "); dump with --link-remap to "
                        + "let Cryo link it back as link_remap.N beside its old name, or close it before the dump");
            }
            return;
        }
        if ((inode.mode() & S_IFMT) == S_IFDIR) {
            return; // a removed directory (a cwd, a directory fd): made again empty for the restore, then removed
        }
        if ((inode.mode() & S_IFMT) == S_IFIFO) {
            return; // a FIFO: made again empty for the restore (its bytes in flight are the FIFO's own image's)
        }
        if (!inode.regular()) {
            throw new CryoException(where + ", which is not a regular file (mode " + Integer.toOctalString(inode.mode())
                    + "); Cryo can only keep the contents of deleted regular files and removed directories");
        }
        // what goes into the images is its data, not its holes: a sparse file is measured by its data (CRIU counts
        // its blocks)
        long data = inode.size() > Math.min(options.ghostLimit(), MAX_GHOST) ? dataBytes(openPath, inode.size())
                : inode.size();
        if (data > options.ghostLimit()) {
            throw new CryoException(where + " of " + inode.size() + " bytes" + (data < inode.size() ? " (" + data
                    + " of data)" : "") + ", over the ghost file limit of " + options.ghostLimit()
                    + " bytes; raise it with --ghost-limit " + data + " (its contents go into the images)");
        }
        if (data > MAX_GHOST) {
            throw new CryoException(where + " of " + data + " bytes of data; Cryo keeps deleted files of up to "
                    + MAX_GHOST + " bytes in its images");
        }
    }

    /** The bytes of data (holes left out) of the file {@code openPath} opens, of {@code size} bytes. */
    static long dataBytes(String openPath, long size) throws CryoException {
        try {
            long sum = 0;
            for (long[] x : Dump.extents(openPath, size)) {
                sum += x[1];
            }
            return sum;
        } catch (IOException e) {
            throw new CryoException(openPath + ": finding its data (SEEK_DATA) failed: " + e.getMessage(), e);
        }
    }

    /** {@link #check} for the deleted files the task maps (its executable among them), before it is touched. */
    public static void checkMappings(int pid, dev.cryo.engine.proc.ProcFs proc, FileOptions options, Dump dump)
            throws CryoException, IOException {
        // the restore finds these by path, in Cryo's mount namespace when the task's own is not kept
        boolean ownMounts = RegularFile.ownMountsNotDumped(pid);
        for (String[] link : new String[][]{{"exe", "its executable"}, {"cwd", "its working directory"},
                {"root", "its root directory"}}) {
            String target = proc.link(pid, link[0]);
            String open = proc.dir(pid).resolve(link[0]).toString();
            if (isDeleted(target)) { // a removed directory is a ghost; one moved away is refused here
                check(pid, link[1], target, open, options, dump);
            } else if (ownMounts) {
                RegularFile.requireInCryosMounts(pid, link[1], target, open);
            }
        }
        String maps = proc.mapsText(pid);
        if (!ownMounts && !maps.contains(SUFFIX)) {
            return; // nothing below applies: no mapping of a deleted file (secretmem's shows as one too)
        }
        java.util.Set<Long> seen = new java.util.HashSet<>();
        java.util.Set<String> reached = new java.util.HashSet<>();
        for (dev.cryo.engine.proc.MapsEntry m : dev.cryo.engine.proc.ProcFs.parseMaps(maps)) {
            if (m.isAioRing()) {
                continue; // the kernel's, made again by io_setup (AioRings)
            }
            if (ownMounts && m.fileBacked() && !isDeleted(m.path()) && !SharedMemory.isAnonShared(m)
                    && !SharedMemory.isSysv(m) && !SharedMemory.isMemfd(m) && reached.add(m.path())) {
                RegularFile.requireInCryosMounts(pid, "the mapping at " + Long.toHexString(m.start()), m.path(),
                        proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end())).toString());
            }
            if (!m.fileBacked() || !isDeleted(m.path()) || SharedMemory.isAnonShared(m) || SharedMemory.isSysv(m)
                    || SharedMemory.isMemfd(m) || !seen.add(m.inode())) {
                continue;
            }
            String mapFile = proc.dir(pid).resolve(String.format("map_files/%x-%x", m.start(), m.end())).toString();
            if (m.path().startsWith("/anon_hugepage")) {
                throw new CryoException("cannot dump pid " + pid + ": the mapping at " + Long.toHexString(m.start())
                        + " (" + (m.length() >> 10) + " KiB) is memory of huge pages from the hugetlb pool "
                        + "(MAP_HUGETLB), which Cryo cannot dump yet");
            }
            if (isSecretMem(mapFile)) {
                throw new CryoException("cannot dump pid " + pid + ": the mapping at " + Long.toHexString(m.start())
                        + " is memfd_secret memory, which the kernel keeps from every other process: no dump can read it");
            }
            check(pid, "the mapping at " + Long.toHexString(m.start()), m.path(), mapFile, options, dump);
        }
    }

    private static boolean isSecretMem(String path) {
        try {
            return dev.cryo.engine.sys.DirectFiles.fsType(path) == RegularFile.SECRETMEM_MAGIC;
        } catch (IOException e) {
            return false; // unmapped meanwhile: the check after it says what it finds
        }
    }

    // ---- dump

    /** The deleted files of one dump, noted by files.img entry, written once the task is frozen. */
    public static final class Dump {
        /** One files.img entry whose file was deleted; {@code openPath} reaches it while the task is frozen. */
        private record Noted(int origId, String path, String openPath, Inode inode) {
        }

        private final Map<Integer, Noted> noted = new LinkedHashMap<>();
        /** {@link DeletedFiles#otherName} found by the checks before the freeze, by "dev:ino": not looked up again */
        private final Map<String, String> otherNames = new java.util.concurrent.ConcurrentHashMap<>();
        /** link_remap.N names this dump made, removed when the dump fails or leaves the tree running */
        private final List<Path> links = new ArrayList<>();

        /** {@link DeletedFiles#otherName}, once per file for the whole dump. */
        String otherName(int pid, String path, Inode inode) {
            String key = inode.dev() + ":" + inode.ino();
            String known = otherNames.get(key);
            if (known != null) {
                return known;
            }
            String found = DeletedFiles.otherName(pid, path, inode);
            if (found != null) {
                otherNames.put(key, found);
            }
            return found;
        }

        /** True when the dump saw a deleted file (and will write remap-fpath.img). */
        public boolean isEmpty() {
            return noted.isEmpty();
        }

        /**
         * Notes files.img entry {@code id}, a regular file whose /proc name is {@code target}, and returns the name
         * its reg_file_entry carries: the original path when it was deleted, {@code target} otherwise.
         */
        public String note(int pid, int id, String target, String openPath, FileOptions options) throws CryoException {
            if (!isDeleted(target)) {
                noted.remove(id);
                return target;
            }
            String path = originalPath(target);
            try {
                Inode inode = deletedInode(path, openPath);
                if (inode == null || ((inode.mode() & S_IFMT) == S_IFDIR && inode.nlink() > 0)) {
                    noted.remove(id); // not deleted after all; a directory moved away was refused by the check
                    return target;
                }
                // a POSIX object still linked by its own name (found by the check before the freeze): that name opens it
                String other = inode.nlink() > 0 && !options.linkRemap() ? otherName(pid, path, inode) : null;
                if (other != null) {
                    noted.remove(id);
                    return other;
                }
                noted.put(id, new Noted(id, path, openPath, inode));
                return path;
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": the deleted file " + path + ": stat of "
                        + openPath + " failed: " + e.getMessage(), e);
            }
        }

        /**
         * Writes remap-fpath.img and the ghost images, and makes the link remaps, adding their files.img entries to
         * {@code files}. Runs while the task is frozen, once {@code files} holds every entry: a noted id whose
         * entry is gone or names another file (the maps were read again) is left out.
         */
        public void write(ImageDir dir, List<file_entry> files, int pid, FileOptions options, Log log)
                throws CryoException {
            List<remap_file_path_entry> remaps = new ArrayList<>();
            Map<String, Integer> ghostOfInode = new HashMap<>();
            Map<String, Integer> linkOfInode = new HashMap<>();
            int nextGhost = 1;
            List<file_entry> added = new ArrayList<>();
            for (Noted n : noted.values()) {
                if (files.stream().noneMatch(f -> f.getId() == n.origId() && f.hasReg()
                        && f.getReg().getName().equals(n.path()))) {
                    continue;
                }
                String inodeKey = n.inode().dev() + ":" + n.inode().ino();
                if (n.inode().nlink() == 0) {
                    Integer ghost = ghostOfInode.get(inodeKey);
                    if (ghost == null) {
                        ghost = nextGhost++;
                        writeGhost(dir, ghost, n, pid, options, log);
                        ghostOfInode.put(inodeKey, ghost);
                    }
                    remaps.add(remap_file_path_entry.newBuilder().setOrigId(n.origId()).setRemapId(ghost)
                            .setRemapType(remap_type.GHOST).build());
                } else {
                    Integer link = linkOfInode.get(inodeKey);
                    if (link == null) {
                        link = files.size() + added.size() + 1;
                        added.add(linkRemap(n, link, pid, files, log));
                        linkOfInode.put(inodeKey, link);
                    }
                    remaps.add(remap_file_path_entry.newBuilder().setOrigId(n.origId()).setRemapId(link)
                            .setRemapType(remap_type.LINKED).build());
                }
            }
            files.addAll(added);
            if (remaps.isEmpty()) {
                return;
            }
            try {
                dir.write(REMAP_IMAGE, ImageFile.of("REMAP_FPATH", remaps));
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": writing " + REMAP_IMAGE + " failed: "
                        + e.getMessage(), e);
            }
        }

        private static void writeGhost(ImageDir dir, int ghost, Noted n, int pid, FileOptions options, Log log)
                throws CryoException {
            String what = "cannot dump pid " + pid + ": the deleted file " + n.path();
            Inode now;
            try {
                now = Inode.of(n.openPath()); // frozen now: its size may differ from the check's
            } catch (IOException e) {
                throw new CryoException(what + ": stat of " + n.openPath() + " failed: " + e.getMessage(), e);
            }
            // as CRIU keeps a removed directory or a deleted FIFO: its entry, no contents
            if ((now.mode() & S_IFMT) == S_IFDIR || (now.mode() & S_IFMT) == S_IFIFO) {
                var dirEntry = ghost_file_entry.newBuilder().setUid(now.uid()).setGid(now.gid()).setMode(now.mode())
                        .setDev(now.kernelDev()).setIno(now.ino()).setAtim(timeval(now.atimeNs()))
                        .setMtim(timeval(now.mtimeNs())).build();
                try {
                    dir.write(ghostImage(ghost), ImageFile.ofRecords("GHOST_FILE", List.of(ImageEntry.of(dirEntry))));
                } catch (IOException x) {
                    throw new CryoException(what + ": writing " + ghostImage(ghost) + " failed: " + x.getMessage(), x);
                }
                log.info("removed %s %s kept in %s", (now.mode() & S_IFMT) == S_IFDIR ? "directory" : "FIFO", n.path(),
                        ghostImage(ghost));
                return;
            }
            long held;
            try {
                held = now.size() > options.ghostLimit() ? dataBytes(n.openPath(), now.size()) : now.size();
            } catch (CryoException x) {
                throw new CryoException(what + ": " + x.getMessage(), x);
            }
            if (held > options.ghostLimit() || held > MAX_GHOST) {
                throw new CryoException(what + " has grown to " + held + " bytes of data, over the ghost file limit of "
                        + options.ghostLimit() + " bytes; raise it with --ghost-limit " + held);
            }
            // by its data extents (CRIU's chunks, its default): holes stay holes, and SEEK_HOLE finds them after the
            // restore; --ghost-fiemap asks CRIU to find them with FIEMAP, which SEEK_DATA/SEEK_HOLE answer alike
            boolean chunks = options.ghostFiemap() || !"false".equals(System.getProperty("cryo.ghost.chunks"));
            var e = ghost_file_entry.newBuilder().setUid(now.uid()).setGid(now.gid()).setMode(now.mode())
                    .setDev(now.kernelDev()).setIno(now.ino()).setSize(now.size())
                    .setAtim(timeval(now.atimeNs())).setMtim(timeval(now.mtimeNs())).setChunks(chunks);
            List<ImageEntry> records = new ArrayList<>();
            long bytes = 0;
            try (FileChannel in = FileChannel.open(Path.of(n.openPath()), StandardOpenOption.READ)) {
                if (!chunks) {
                    byte[] all = read(in, 0, now.size());
                    records.add(new ImageEntry(e.build(), all));
                    bytes = all.length;
                } else {
                    records.add(ImageEntry.of(e.build()));
                    for (long[] extent : extents(n.openPath(), now.size())) {
                        byte[] data = read(in, extent[0], extent[1]);
                        records.add(new ImageEntry(ghost_chunk_entry.newBuilder().setOff(extent[0])
                                .setLen(data.length).build(), data));
                        bytes += data.length;
                    }
                }
            } catch (IOException x) {
                throw new CryoException(what + ": reading its contents through " + n.openPath() + " failed: "
                        + x.getMessage(), x);
            }
            try {
                dir.write(ghostImage(ghost), ImageFile.ofRecords("GHOST_FILE", records));
            } catch (IOException x) {
                throw new CryoException(what + ": writing " + ghostImage(ghost) + " failed: " + x.getMessage(), x);
            }
            log.info("deleted file %s: %d bytes of %d kept in %s", n.path(), bytes, now.size(), ghostImage(ghost));
        }

        /** The data extents {offset, length} of the file, found with SEEK_DATA/SEEK_HOLE (holes stay holes). */
        static List<long[]> extents(String openPath, long size) throws IOException {
            List<long[]> out = new ArrayList<>();
            int fd = (int) dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.OPENAT, -100,
                    cString(openPath).address(), 0, 0);
            if (fd < 0) {
                throw new IOException("open failed: " + dev.cryo.engine.sys.SyscallException.describe(-fd));
            }
            try {
                long at = 0;
                while (at < size) {
                    long data = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.LSEEK, fd, at, SEEK_DATA);
                    if (data < 0 || data >= size) {
                        break; // ENXIO: nothing but a hole up to the end
                    }
                    long hole = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.LSEEK, fd, data, SEEK_HOLE);
                    if (hole < 0 || hole > size) {
                        hole = size;
                    }
                    out.add(new long[]{data, hole - data});
                    at = hole;
                }
            } finally {
                dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.CLOSE, fd);
            }
            return out;
        }

        private static dev.cryo.engine.sys.NativeBuffer cString(String s) {
            byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            dev.cryo.engine.sys.NativeBuffer buf = dev.cryo.engine.sys.NativeBuffer.allocate(b.length + 1);
            buf.put(0, b);
            buf.put(b.length, new byte[]{0});
            return buf;
        }

        private static byte[] read(FileChannel in, long from, long length) throws IOException {
            ByteBuffer b = ByteBuffer.allocate((int) length);
            while (b.hasRemaining()) {
                if (in.read(b, from + b.position()) < 0) {
                    break; // shrank meanwhile: what is there
                }
            }
            return b.position() == b.capacity() ? b.array() : java.util.Arrays.copyOf(b.array(), b.position());
        }

        private static timeval timeval(long ns) {
            return timeval.newBuilder().setTvSec(ns / 1_000_000_000L).setTvUsec(ns % 1_000_000_000L / 1000).build();
        }

        /** Links the inode as DIR/link_remap.ID (CRIU's name) and returns that name's files.img entry. */
        private file_entry linkRemap(Noted n, int id, int pid, List<file_entry> files, Log log) throws CryoException {
            Path old = Path.of(n.path());
            Path dirOf = old.getParent() == null ? Path.of("/") : old.getParent();
            Path link = dirOf.resolve("link_remap." + id);
            String what = "cannot dump pid " + pid + ": the deleted file " + n.path() + " (--link-remap)";
            for (int i = 0; Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS); i++) {
                link = dirOf.resolve("link_remap." + id + "." + i);
            }
            // linkat(2) of the /proc link follows it to the open inode (AT_SYMLINK_FOLLOW)
            long r = dev.cryo.engine.sys.Syscall.raw(LINKAT, -100, cString(n.openPath()).address(), -100,
                    cString(link.toString()).address(), AT_SYMLINK_FOLLOW);
            if (r < 0) {
                throw new CryoException(what + ": linking it as " + link + " failed: "
                        + dev.cryo.engine.sys.SyscallException.describe((int) -r)
                        + (r == -2 ? " (its directory is gone)" : r == -18 ? " (another file system)" : ""));
            }
            links.add(link);
            log.info("deleted file %s linked back as %s (--link-remap)", n.path(), link);
            int flags = files.stream().filter(f -> f.getId() == n.origId()).findFirst()
                    .map(f -> f.getReg().getFlags()).orElse(0);
            var reg = reg_file_entry.newBuilder().setId(id).setFlags(flags & RegularFile.O_ACCMODE).setPos(0)
                    .setFown(RegularFile.noOwner()).setName(link.toString()).setMode(n.inode().mode())
                    .setSize(n.inode().size());
            return file_entry.newBuilder().setType(fd_types.REG).setId(id).setReg(reg).build();
        }

        /** Removes the link_remap names this dump made (the dump failed, or the tree runs on). */
        public void undo(Log log) {
            removeAll(links, log);
        }
    }

    static final int LINKAT = 265, AT_SYMLINK_FOLLOW = 0x400;

    // ---- restore

    /**
     * The deleted files of one restore: ghosts made again as files and link remaps linked back under their old
     * names, so that every open and mapping finds them by the path the images name; {@link #finish()} unlinks
     * them before the task runs, {@link #close()} undoes what a failed restore made.
     */
    public static final class Restore implements AutoCloseable {
        private final List<file_entry> files;
        /** names this restore made: unlinked at finish, and when the restore fails */
        private final List<Path> made = new ArrayList<>();
        /** the dump's link_remap.N names: unlinked once the restore succeeded (a failed one may be tried again) */
        private final List<Path> linkRemaps = new ArrayList<>();
        private final Log log;

        private Restore(List<file_entry> files, Log log) {
            this.files = files;
            this.log = log;
        }

        /** The files.img entries with each deleted file's name as the restore can open it. */
        public List<file_entry> files() {
            return files;
        }

        /** Reads remap-fpath.img (when there is one) and makes every deleted file reachable by a name. */
        public static Restore open(ImageDir dir, List<file_entry> files, int pid, Log log) throws CryoException {
            if (!dir.exists(REMAP_IMAGE)) {
                return new Restore(files, log);
            }
            Restore r = new Restore(new ArrayList<>(files), log);
            try {
                r.apply(dir, pid);
                return r;
            } catch (CryoException | RuntimeException e) {
                r.close();
                throw e;
            }
        }

        private void apply(ImageDir dir, int pid) throws CryoException {
            List<remap_file_path_entry> remaps;
            try {
                remaps = dir.read(REMAP_IMAGE).entries(remap_file_path_entry.class);
            } catch (IOException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot read " + REMAP_IMAGE + ": "
                        + e.getMessage(), e);
            }
            Map<Integer, Path> ghosts = new HashMap<>(); // ghost id to where it was made
            for (remap_file_path_entry rp : remaps) {
                int at = indexOf(rp.getOrigId());
                if (at < 0 || !files.get(at).hasReg()) {
                    throw new CryoException("cannot restore pid " + pid + ": " + REMAP_IMAGE + " remaps file "
                            + rp.getOrigId() + ", which files.img does not hold as a regular file");
                }
                reg_file_entry reg = files.get(at).getReg();
                Path path = Path.of(reg.getName());
                boolean ghost = rp.getRemapType() == remap_type.GHOST
                        || (!rp.hasRemapType() && (rp.getRemapId() & 0x80000000) != 0);
                int remapId = rp.getRemapId() & 0x7fffffff;
                Path source;
                if (ghost) {
                    source = ghosts.get(remapId);
                    if (source == null) {
                        source = makeGhost(dir, remapId, path, pid);
                        ghosts.put(remapId, source);
                    }
                } else if (rp.getRemapType() == remap_type.LINKED) {
                    int linkAt = indexOf(remapId);
                    if (linkAt < 0 || !files.get(linkAt).hasReg()) {
                        throw new CryoException("cannot restore pid " + pid + ": " + REMAP_IMAGE + " links "
                                + reg.getName() + " to file " + remapId + ", which files.img does not hold");
                    }
                    source = Path.of(files.get(linkAt).getReg().getName());
                    if (!Files.exists(source, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        throw new CryoException("cannot restore pid " + pid + ": the deleted file " + reg.getName()
                                + " was kept as " + source + " (--link-remap), which is missing (a dump with -R, or "
                                + "one that failed, removes it)");
                    }
                    if (!linkRemaps.contains(source)) {
                        linkRemaps.add(source);
                    }
                } else {
                    throw new CryoException("cannot restore pid " + pid + ": " + REMAP_IMAGE + " remaps "
                            + reg.getName() + " as " + rp.getRemapType() + ", which Cryo cannot restore");
                }
                Path name = reachable(source, path);
                if (!name.toString().equals(reg.getName())) {
                    files.set(at, files.get(at).toBuilder().setReg(reg.toBuilder().setName(name.toString())).build());
                }
            }
        }

        /**
         * The name the restore opens {@code source} by: the original path, linked to it, when that name is free (the
         * restored fd then reads "PATH (deleted)" again once it is unlinked), else {@code source} itself.
         */
        private Path reachable(Path source, Path original) {
            if (source.equals(original) || made.contains(original)) {
                return original;
            }
            if (Files.exists(original, java.nio.file.LinkOption.NOFOLLOW_LINKS) || original.getParent() == null
                    || !Files.isDirectory(original.getParent())) {
                return source;
            }
            try {
                Files.createLink(original, source);
                made.add(original);
                return original;
            } catch (IOException e) {
                log.debug("cannot link %s to %s (%s): opened by its own name", original, source, e.getMessage());
                return source;
            }
        }

        private int indexOf(int id) {
            for (int i = 0; i < files.size(); i++) {
                if (files.get(i).getId() == id) {
                    return i;
                }
            }
            return -1;
        }

        /** Makes ghost {@code id} as a file: at its original path when that is free, else beside it. */
        private Path makeGhost(ImageDir dir, int id, Path original, int pid) throws CryoException {
            String what = "cannot restore pid " + pid + ": the deleted file " + original;
            ImageFile img;
            try {
                img = dir.read(ghostImage(id));
            } catch (IOException e) {
                throw new CryoException(what + ": cannot read " + ghostImage(id) + ": "
                        + (e instanceof NoSuchFileException ? "it is missing" : e.getMessage()), e);
            }
            List<ImageEntry> records = img.records();
            if (records.isEmpty() || !(records.get(0).message() instanceof ghost_file_entry g)) {
                throw new CryoException(what + ": " + ghostImage(id) + " holds no ghost_file_entry");
            }
            boolean directory = (g.getMode() & S_IFMT) == S_IFDIR, fifo = (g.getMode() & S_IFMT) == S_IFIFO;
            if (!directory && !fifo && (g.getMode() & S_IFMT) != S_IFREG) {
                throw new CryoException(what + ": " + ghostImage(id) + " holds a file of mode "
                        + Integer.toOctalString(g.getMode()) + ", which Cryo cannot make again");
            }
            Path parent = original.getParent();
            List<Path> candidates = new ArrayList<>();
            if (parent != null && Files.isDirectory(parent)) {
                candidates.add(original);
                candidates.add(parent.resolve(original.getFileName() + ".cryo." + id + ".ghost"));
            }
            candidates.add(dir.path().resolve(".cryo-ghost." + id)); // the directory itself is gone
            IOException last = null;
            for (Path p : candidates) {
                try {
                    if (directory) {
                        Files.createDirectory(p);
                        made.add(p);
                        attributes(p, g);
                        log.info("removed directory %s made again as %s", original, p);
                    } else if (fifo) {
                        DirectFiles.mkfifo(p.toString(), 0600);
                        made.add(p);
                        fifoAttributes(p, g);
                        log.info("deleted FIFO %s made again as %s", original, p);
                    } else {
                        write(p, g, records);
                        made.add(p);
                        log.info("deleted file %s made again as %s (%d bytes)", original, p, g.getSize());
                    }
                    return p;
                } catch (FileAlreadyExistsException taken) {
                    last = taken;
                } catch (IOException e) {
                    last = e;
                    made.remove(p);
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException ignored) {
                        // the next candidate is tried; this one is reported if all fail
                    }
                }
            }
            throw new CryoException(what + ": cannot make it again from " + ghostImage(id) + ": " + last);
        }

        private static void write(Path p, ghost_file_entry g, List<ImageEntry> records) throws IOException {
            try (FileChannel out = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                if (!g.getChunks()) {
                    out.write(ByteBuffer.wrap(records.get(0).payload()));
                } else {
                    for (ImageEntry r : records.subList(1, records.size())) {
                        ghost_chunk_entry c = (ghost_chunk_entry) r.message();
                        ByteBuffer b = ByteBuffer.wrap(r.payload());
                        while (b.hasRemaining()) {
                            out.write(b, c.getOff() + b.position());
                        }
                    }
                }
                if (g.hasSize()) {
                    out.truncate(g.getSize());
                    if (out.size() < g.getSize()) {
                        // a trailing hole: the size is set by a write-free extension
                        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
                            raf.setLength(g.getSize());
                        }
                    }
                }
            }
            attributes(p, g);
        }

        /** Owner, mode and times of ghost {@code g} onto {@code p}. */
        /**
         * {@link #attributes} for a FIFO, by path: Java's own setters open the file, and an open of a FIFO waits for
         * its other side.
         */
        private static void fifoAttributes(Path p, ghost_file_entry g) throws IOException {
            DirectFiles.chownChmod(p.toString(), g.getUid(), g.getGid(), g.getMode());
            if (g.hasAtim() && g.hasMtim()) {
                DirectFiles.setTimes(p.toString(), nanos(g.getAtim()), nanos(g.getMtim()));
            }
        }

        private static long nanos(timeval t) {
            return t.getTvSec() * 1_000_000_000L + t.getTvUsec() * 1000L;
        }

        private static void attributes(Path p, ghost_file_entry g) throws IOException {
            Files.setAttribute(p, "unix:mode", g.getMode() & 07777);
            Files.setAttribute(p, "unix:uid", g.getUid());
            Files.setAttribute(p, "unix:gid", g.getGid());
            Files.setAttribute(p, "unix:mode", g.getMode() & 07777); // chown clears set-id bits
            if (g.hasMtim()) {
                Files.setLastModifiedTime(p, time(g.getMtim()));
            }
            if (g.hasAtim()) {
                Files.setAttribute(p, "basic:lastAccessTime", time(g.getAtim()));
            }
        }

        private static FileTime time(timeval t) {
            return FileTime.from(t.getTvSec() * 1_000_000L + t.getTvUsec(), TimeUnit.MICROSECONDS);
        }

        /** Every fd and mapping is made: the names go, and the files are deleted again, before the task runs. */
        public void finish() {
            unlink(made);
            unlink(linkRemaps);
        }

        private void unlink(List<Path> names) {
            java.util.Collections.reverse(names); // what was made inside a ghost directory goes before it
            removeAll(names, log);
        }

        /** Removes what a failed restore made (the dump's link remaps stay for another try). */
        @Override
        public void close() {
            unlink(made);
        }
    }

    /** Removes each of {@code names} (a name already gone is fine; one that stays is logged) and forgets them. */
    static void removeAll(List<Path> names, Log log) {
        for (Path p : names) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                log.warn("cannot remove %s: %s", p, e.getMessage());
            }
        }
        names.clear();
    }
}
