package dev.cryo.engine.resource;

import dev.cryo.engine.sys.DirectFiles;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.fown_entry;
import dev.cryo.image.proto.reg_file_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Files opened by path: regular files, directories, /dev/null and other character devices, and (with
 * -j/--shell-job) the terminal. Restored by opening the same path with the same flags and seeking. An
 * {@code O_PATH} fd (of any kind of file: a FIFO, a symlink opened with O_NOFOLLOW) is opened again with
 * {@code O_PATH} and its other flags. Deleted files are {@link DeletedFiles}'.
 */
public final class RegularFile implements FdKind {
    public static final int O_WRONLY = 01, O_RDWR = 02, O_ACCMODE = 03, O_CREAT = 0100, O_EXCL = 0200, O_NOCTTY = 0400,
            O_TRUNC = 01000, O_APPEND = 02000, O_CLOEXEC = 02000000, O_PATH = 010000000, O_DIRECTORY = 0200000,
            O_TMPFILE_BIT = 020000000;
    static final int S_IFMT = 0170000, S_IFREG = 0100000, S_IFCHR = 0020000, S_IFIFO = 0010000;
    public static final int FD_CLOEXEC = 1;

    @Override
    public fd_types type() {
        return fd_types.REG;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isPath();
    }

    static boolean isTerminal(String path) {
        return path.startsWith("/dev/pts/") || path.startsWith("/dev/tty") || path.equals("/dev/console");
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        long fsType = fsType(ctx, fd);
        if (fsType == MQUEUE_MAGIC) { // its name reads as a path, even unlinked, but no path opens it
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ") is a "
                    + "POSIX message queue (mqueue), which Cryo cannot dump yet");
        }
        if (fsType == SECRETMEM_MAGIC) { // reads as the deleted file /secretmem, which no link brings back
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ") is a "
                    + "memfd_secret area, whose memory the kernel keeps from every other process: no dump can read it");
        }
        if (DeletedFiles.isDeleted(fd.target())) {
            DeletedFiles.check(ctx.pid(), "fd " + fd.fd(), fd.target(), ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd(),
                    ctx.options().files(), ctx.deleted());
        }
        if ((fd.flags() & O_PATH) != 0) {
            requireInCryosMounts(ctx, fd);
            return; // names a file without opening it: any kind of file (a FIFO, a symlink, a tty) reopens the same way
        }
        FileLocks.check(ctx, fd);
        String iff = fd.extra().get("iff"); // only a tun/tap fd's fdinfo has the line; empty while not attached
        if (iff != null && !iff.isEmpty()) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ") is "
                    + "attached to the tun/tap interface " + iff + ", which Cryo cannot restore yet: " + fd.target()
                    + " opened again would be attached to no interface");
        }
        if (fd.target().equals("/dev/ptmx") || fd.target().startsWith("/dev/pts/ptmx")) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is a pty master ("
                    + fd.target() + "), which Cryo cannot dump yet");
        }
        try {
            int mode = DirectFiles.stat(ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd()).mode();
            if ((mode & S_IFMT) == S_IFIFO) {
                throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the FIFO "
                        + fd.target() + ", which Cryo cannot dump yet");
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target()
                    + "): stat failed: " + e.getMessage(), e);
        }
        requireReachable(ctx, fd);
        requireInCryosMounts(ctx, fd);
        if (isTerminal(fd.target()) && !ctx.options().shellJob() && !Tty.controlledFromTree(ctx, fd.target())) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the terminal "
                    + fd.target() + "; dump with -j/--shell-job to let the restore reattach it");
        }
    }

    static final long MQUEUE_MAGIC = 0x19800202L, SECRETMEM_MAGIC = 0x5345434dL;

    /**
     * Whether task {@code pid} has a mount namespace of its own that the dump does not keep: Cryo keeps one only with a
     * container (a pid namespace of its own, {@code ContainerDump}); otherwise the restore opens the task's files in
     * Cryo's namespace.
     */
    static boolean ownMountsNotDumped(int pid) {
        try {
            Path proc = Path.of("/proc", Integer.toString(pid));
            if (java.nio.file.Files.readSymbolicLink(proc.resolve("ns/mnt"))
                    .equals(java.nio.file.Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")))) {
                return false;
            }
            return java.nio.file.Files.readSymbolicLink(proc.resolve("ns/pid"))
                    .equals(java.nio.file.Files.readSymbolicLink(Path.of("/proc/self/ns/pid")));
        } catch (IOException e) {
            return false; // gone meanwhile: the freeze sees it
        }
    }

    /** {@link #requireInCryosMounts(int, String, String, String)} for a path fd (a deleted file is a ghost's). */
    private static void requireInCryosMounts(FdDumpContext ctx, FdInfo fd) throws CryoException {
        if (!DeletedFiles.isDeleted(fd.target())) {
            requireInCryosMounts(ctx.pid(), "fd " + fd.fd(), fd.target(), ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd());
        }
    }

    /**
     * For a task with a mount namespace of its own that the dump does not keep: refuses a file that {@code path} does
     * not reach in Cryo's namespace, where the restore opens it again (a file on a mount only the task's namespace
     * has). The same file through another mount is fine (the namespace's copy of one of Cryo's).
     *
     * @param what     "fd 3", "its working directory", "the mapping at 7f.."
     * @param openPath a /proc path that opens the file the task has
     */
    public static void requireInCryosMounts(int pid, String what, String path, String openPath) throws CryoException {
        if (!path.startsWith("/") || !ownMountsNotDumped(pid) || sameFile(path, openPath)) {
            return;
        }
        throw new CryoException("cannot dump pid " + pid + ": " + what + " (" + path + ") is on a mount of the task's "
                + "own mount namespace that Cryo's namespace does not reach at that path: Cryo keeps the mounts only "
                + "of a container, so the restore, in Cryo's namespace, would not find it; run Cryo in the task's "
                + "mount namespace (nsenter --mount --target " + pid + ") to dump and restore it there");
    }

    /**
     * The restore opens the file again by its path: refused when that path, in the task's root, leads nowhere, or to
     * another file on another mount than the fd's. That is a POSIX message queue (its name reads as a path, but its
     * mqueue filesystem is not mounted there), or a file whose mount was unmounted or covered since it was opened.
     * A path that reaches the same file through another mount is fine: an fd opened before the task entered a mount
     * namespace of its own ({@code unshare -m}, a container's stdio from its runtime) is on a mount of the old
     * namespace, and the new one's copy of that mount opens the same file.
     */
    private static void requireReachable(FdDumpContext ctx, FdInfo fd) throws CryoException {
        if (fd.mntId() <= 0 || !fd.isPath() || DeletedFiles.isDeleted(fd.target())) {
            return;
        }
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ")";
        String path = ctx.proc().dir(ctx.pid()) + "/root" + fd.target();
        long mnt;
        try {
            mnt = DirectFiles.mountId(path);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new CryoException(where + " is " + mountKind(ctx, fd) + ", and nothing is at " + fd.target()
                    + " in the task's root now: the restore opens files again by their path");
        } catch (IOException e) {
            return; // the restore says what it meets
        }
        if (mnt != fd.mntId() && !sameFile(path, ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd())) {
            throw new CryoException(where + " is " + mountKind(ctx, fd) + ", but the path " + fd.target()
                    + " leads to another mount now (mount " + mnt + ", the fd's is " + fd.mntId()
                    + "): the restore opens files again by their path and would open another file");
        }
    }

    private static boolean sameFile(String path, String openPath) {
        try {
            return DirectFiles.stat(path).sameFile(DirectFiles.stat(openPath));
        } catch (IOException e) {
            return false;
        }
    }

    /** The magic of the filesystem the fd's file is on (statfs), 0 for a path fd closed meanwhile. */
    private static long fsType(FdDumpContext ctx, FdInfo fd) {
        if (!fd.isPath()) {
            return 0;
        }
        try {
            return DirectFiles.fsType(ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd());
        } catch (IOException e) {
            return 0; // closed meanwhile
        }
    }

    /** The fd's mount in words, from the task's mountinfo: "a file on a tmpfs mount (/run)". */
    private static String mountKind(FdDumpContext ctx, FdInfo fd) {
        try {
            for (String line : java.nio.file.Files.readAllLines(ctx.proc().dir(ctx.pid()).resolve("mountinfo"))) {
                String[] f = line.split(" ");
                if (f.length > 4 && f[0].equals(Integer.toString(fd.mntId()))) {
                    int dash = java.util.Arrays.asList(f).indexOf("-");
                    String type = dash > 0 && dash + 1 < f.length ? f[dash + 1] : "?";
                    return "a file on a " + type + " mount (" + f[4] + ")";
                }
            }
        } catch (IOException | RuntimeException e) {
            // below
        }
        return "a file on a mount the task no longer sees (mount " + fd.mntId() + ")";
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        ctx.locks().collect(ctx, fd);
        String name = ctx.deleted().note(ctx.pid(), id, fd.target(), ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd(),
                ctx.options().files());
        var reg = reg_file_entry.newBuilder().setId(id).setFlags(fd.flags() & ~O_CLOEXEC).setPos(fd.pos())
                .setFown(noOwner()).setName(name);
        try {
            DirectFiles.Stat st = DirectFiles.stat(ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd());
            reg.setMode(st.mode());
            if ((st.mode() & S_IFMT) == S_IFREG) {
                reg.setSize(st.size());
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target()
                    + "): stat failed: " + e.getMessage(), e);
        }
        return file_entry.newBuilder().setType(fd_types.REG).setId(id).setReg(reg).build();
    }

    /**
     * A file entry for a mapped file or the executable: no fd, only identity. A deleted one is noted in
     * {@code ctx}'s deleted files (its contents are kept, or it is linked back) and named by its original path.
     */
    public static file_entry mapped(int id, String path, Path statPath, FdDumpContext ctx)
            throws IOException, CryoException {
        return mapped(id, ctx.deleted().note(ctx.pid(), id, path, statPath.toString(), ctx.options().files()), statPath,
                !FILESIZE.equals(ctx.options().files().fileValidation()));
    }

    /** --file-validation's method that checks a file's size alone (the other, CRIU's default, is "buildid"). */
    public static final String FILESIZE = "filesize";

    /**
     * A file entry for a mapped file or the executable: no fd, only identity: its mode and size, and with
     * {@code buildId} an ELF file's build-id (read once a path per dump: the entry is made once).
     */
    public static file_entry mapped(int id, String path, Path statPath, boolean buildId) throws IOException {
        DirectFiles.Stat st = DirectFiles.stat(statPath.toString());
        var reg = reg_file_entry.newBuilder().setId(id).setFlags(0).setPos(0).setFown(noOwner()).setName(path)
                .setMode(st.mode()).setSize(st.size());
        byte[] elfId = buildId && (st.mode() & S_IFMT) == S_IFREG ? ElfBuildId.of(statPath) : null;
        if (elfId != null) {
            reg.addAllBuildId(ElfBuildId.fields(elfId));
        }
        return file_entry.newBuilder().setType(fd_types.REG).setId(id).setReg(reg).build();
    }

    static fown_entry noOwner() {
        return fown_entry.newBuilder().setUid(0).setEuid(0).setSignum(0).setPidType(0).setPid(0).build();
    }

    /** A file's type in words, from its st_mode. */
    static String kind(int mode) {
        return switch (mode & S_IFMT) {
            case S_IFREG -> "a regular file";
            case 0040000 -> "a directory";
            case 0020000 -> "a character device";
            case 0060000 -> "a block device";
            case S_IFIFO -> "a FIFO";
            case 0140000 -> "a socket";
            case 0120000 -> "a symbolic link";
            default -> "of type " + Integer.toOctalString(mode & S_IFMT);
        };
    }

    /**
     * Says what differs when a file a process had open is not the one it was: its type, its size if read-only, or
     * its ELF build-id where the dump recorded one (unless {@code validation} is {@link #FILESIZE}).
     */
    public static void verify(int pid, reg_file_entry reg, String validation) throws CryoException {
        verify(pid, reg);
        if (reg.getBuildIdCount() == 0 || FILESIZE.equals(validation)) {
            return;
        }
        byte[] id = ElfBuildId.of(Path.of(reg.getName()));
        List<Integer> now = id == null ? List.of() : ElfBuildId.fields(id);
        if (!now.equals(reg.getBuildIdList())) {
            throw new CryoException("cannot restore pid " + pid + ": file " + reg.getName() + " has "
                    + (id == null ? "no build-id" : "build-id " + ElfBuildId.hex(now)) + " now, but it had build-id "
                    + ElfBuildId.hex(reg.getBuildIdList()) + " at dump time (was it rebuilt or upgraded?); "
                    + "--file-validation filesize checks its size alone");
        }
    }

    /** Says what differs when a file a process had open is not the one it was: its type, or its size if read-only. */
    public static void verify(int pid, reg_file_entry reg) throws CryoException {
        Path p = Path.of(reg.getName());
        if ((reg.getFlags() & O_PATH) != 0) { // may name a symlink itself (O_NOFOLLOW): its own size, not its target's
            if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new CryoException("cannot restore pid " + pid + ": file " + reg.getName() + " is missing");
            }
            return;
        }
        if (!Files.exists(p)) {
            throw new CryoException("cannot restore pid " + pid + ": file " + reg.getName() + " is missing");
        }
        if (reg.hasMode()) {
            int now;
            try {
                now = DirectFiles.stat(reg.getName()).mode();
            } catch (IOException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot stat " + reg.getName() + ": " + e.getMessage());
            }
            if ((now & S_IFMT) != (reg.getMode() & S_IFMT)) {
                throw new CryoException("cannot restore pid " + pid + ": file " + reg.getName() + " is " + kind(now)
                        + " now, but it was " + kind(reg.getMode()) + " at dump time (was it replaced?)");
            }
        }
        if (!reg.hasSize() || (reg.getFlags() & O_ACCMODE) != 0) {
            return; // written files may grow while the process is away
        }
        try {
            long size = Files.size(p);
            if (size != reg.getSize()) {
                throw new CryoException("cannot restore pid " + pid + ": file " + reg.getName() + " has size " + size
                        + ", but it had " + reg.getSize() + " at dump time (was it replaced?)");
            }
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": cannot stat " + reg.getName() + ": " + e.getMessage());
        }
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        reg_file_entry reg = file.getReg();
        // /dev/tty without -j: the dump found the task's controlling terminal a pty of the tree, taken back by now
        if (isTerminal(reg.getName()) && !ctx.options().shellJob() && !reg.getName().equals(Tty.CONTROLLING)) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " was the terminal "
                    + reg.getName() + "; restore with -j/--shell-job");
        }
        verify(ctx.pid(), reg, ctx.options().files().fileValidation());
        // O_ASYNC is FileOwner's to set once the fd has its number (given at open, the file would send no signal)
        int flags = reg.getFlags() & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | FileOwner.O_ASYNC);
        if ((flags & O_TMPFILE_BIT) != 0) {
            // opened with O_TMPFILE (its flags keep __O_TMPFILE | O_DIRECTORY): a regular file, its ghost's name now
            flags &= ~(O_TMPFILE_BIT | O_DIRECTORY);
        }
        try {
            int got = ctx.open(reg.getName(), flags | O_NOCTTY, 0);
            if (reg.getPos() != 0 && (flags & O_PATH) == 0) {
                long r = ctx.syscall().raw(Syscall.LSEEK, got, reg.getPos(), 0);
                if (r < 0 && r != -29 /* ESPIPE */) {
                    throw new SyscallException("lseek(" + reg.getName() + ")", (int) -r);
                }
            }
            return got;
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (" + reg.getName()
                    + "): " + e.getMessage(), e);
        }
    }
}
