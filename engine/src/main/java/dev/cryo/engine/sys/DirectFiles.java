package dev.cryo.engine.sys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;

/**
 * Whole-file reads, writes, links and directory listings made with plain syscalls into reused native buffers.
 * NIO opens a channel, registers a thread set and encodes through several layers for each of them; in a short CLI
 * run all of that is interpreted, and a dump's frozen window reads some twenty /proc files and writes ten images.
 * Errors come out as NIO's exceptions (NoSuchFileException and friends), so callers treat both alike.
 */
public final class DirectFiles {
    static final int AT_FDCWD = -100, O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0100, O_TRUNC = 01000,
            O_DIRECTORY = 0200000, O_CLOEXEC = 02000000, ENOENT = 2, ESRCH = 3, EACCES = 13, EPERM = 1, EINTR = 4;
    static final int SYS_READLINKAT = 267, SYS_GETDENTS64 = 217, SYS_MKDIRAT = 258, SYS_UNLINKAT = 263,
            AT_REMOVEDIR = 0x200, EEXIST = 17;

    /** Per thread: the path as a C string, and the data buffer (grown when a file does not fit). */
    private static final ThreadLocal<NativeBuffer[]> BUFFERS = ThreadLocal.withInitial(
            () -> new NativeBuffer[]{NativeBuffer.allocate(4096), NativeBuffer.allocate(64 * 1024)});

    private DirectFiles() {
    }

    /** The whole content of {@code path}, read until end of file (proc files have no size to ask for). */
    public static byte[] read(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        int fd = open(b, path, O_RDONLY | O_CLOEXEC, 0);
        try {
            int got = 0;
            while (true) {
                NativeBuffer data = b[1];
                if (got == data.capacity()) {
                    NativeBuffer bigger = NativeBuffer.allocate(data.capacity() * 2);
                    bigger.put(0, data.bytes(0, got));
                    b[1] = data = bigger;
                }
                long n = Syscall.raw(Syscall.READ, fd, data.address() + got, data.capacity() - got);
                if (n == -EINTR) {
                    continue;
                }
                if (n < 0) {
                    throw error(path, (int) -n);
                }
                if (n == 0) {
                    return data.bytes(0, got);
                }
                got += (int) n;
            }
        } finally {
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }

    /** {@link #read} as UTF-8 text. */
    public static String readText(String path) throws IOException {
        return new String(read(path), StandardCharsets.UTF_8);
    }

    /** Creates or truncates {@code path} (mode 0666 less the umask, as {@code Files.write}) and writes {@code data}. */
    public static void write(String path, byte[] data) throws IOException {
        write(path, data, 0666, false);
    }

    static final int SYS_FCHMOD = 91;

    /**
     * Creates or truncates {@code path} with {@code mode} (less the umask) and writes {@code data}; {@code exact}
     * sets the mode even on a file that existed before, with wider bits.
     */
    static void write(String path, byte[] data, int mode, boolean exact) throws IOException {
        write(path, data, null, mode, exact);
    }

    /**
     * As {@link #write(String, byte[], int, boolean)}, then the bytes between {@code tail}'s position and limit
     * (left as they are), written from where they are when the buffer is direct.
     */
    private static final ThreadLocal<NativeBuffer> STAT = ThreadLocal.withInitial(() -> NativeBuffer.allocate(144));

    /** Whether {@code fd} is a regular file (fstat's st_mode, at offset 24 of x86_64's struct stat). */
    private static boolean regular(int fd) {
        NativeBuffer st = STAT.get();
        return Syscall.raw(Syscall.FSTAT, fd, st.address()) == 0 && (st.getInt(24) & 0170000) == 0100000;
    }

    static void write(String path, byte[] data, java.nio.ByteBuffer tail, int mode, boolean exact) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        int fd = open(b, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        boolean done = false;
        try {
            if (exact && regular(fd)) { // a device or FIFO named so keeps its mode (ImageAccess.create)
                long r = Syscall.raw(SYS_FCHMOD, fd, mode);
                if (r < 0) {
                    throw error(path, (int) -r);
                }
            }
            if (data.length > b[1].capacity()) {
                int size = b[1].capacity();
                while (size < data.length) {
                    size *= 2;
                }
                b[1] = NativeBuffer.allocate(size);
            }
            NativeBuffer buf = b[1];
            buf.put(0, data);
            writeFully(path, fd, buf.address(), data.length);
            if (tail != null && tail.hasRemaining()) {
                if (tail.isDirect()) {
                    long at = com.kenai.jffi.MemoryIO.getInstance().getDirectBufferAddress(tail) + tail.position();
                    writeFully(path, fd, at, tail.remaining());
                } else {
                    java.nio.ByteBuffer t = tail.duplicate();
                    byte[] chunk = new byte[Math.min(t.remaining(), buf.capacity())];
                    while (t.hasRemaining()) {
                        int n = Math.min(chunk.length, t.remaining());
                        t.get(chunk, 0, n);
                        buf.buffer().put(0, chunk, 0, n);
                        writeFully(path, fd, buf.address(), n);
                    }
                }
            }
            done = true;
        } finally {
            long r = Syscall.raw(Syscall.CLOSE, fd);
            if (done && r < 0 && r != -EINTR) {
                throw error(path, (int) -r); // a close that fails may mean lost data (NFS, quota)
            }
        }
    }

    private static void writeFully(String path, int fd, long address, long length) throws IOException {
        long off = 0;
        while (off < length) {
            long n = Syscall.raw(Syscall.WRITE, fd, address + off, length - off);
            if (n == -EINTR) {
                continue;
            }
            if (n < 0) {
                throw error(path, (int) -n);
            }
            off += n;
        }
    }

    /**
     * An image file, in the shape {@code ImageDir} takes for its writer: 0600 whatever the umask and even if the
     * file existed with wider bits, unless images are shared ({@link dev.cryo.image.ImageAccess}).
     */
    public static void write(java.nio.file.Path path, byte[] data) throws IOException {
        boolean shared = dev.cryo.image.ImageAccess.shared();
        write(path.toString(), data, dev.cryo.image.ImageAccess.fileMode(), !shared);
    }

    /** The writer of a dump's images: {@link #write(java.nio.file.Path, byte[])}, and a tail from a direct buffer. */
    public static final dev.cryo.image.ImageDir.FileWriter IMAGES = new dev.cryo.image.ImageDir.FileWriter() {
        @Override
        public void write(java.nio.file.Path file, byte[] bytes) throws IOException {
            DirectFiles.write(file, bytes);
        }

        @Override
        public void write(java.nio.file.Path file, byte[] head, java.nio.ByteBuffer tail) throws IOException {
            boolean shared = dev.cryo.image.ImageAccess.shared();
            DirectFiles.write(file.toString(), head, tail, dev.cryo.image.ImageAccess.fileMode(), !shared);
        }
    };

    /** What stat(2) says of a file: its type and permission bits, and its size. */
    public record Stat(int mode, long size, long dev, long ino, long rdev) {
        static final int S_IFMT = 0170000, S_IFCHR = 0020000, S_IFBLK = 0060000;

        /**
         * Whether both name the same file: one inode, or, for device files, the same device (another node of it, in
         * a container's own /dev, opens the same thing).
         */
        public boolean sameFile(Stat o) {
            if (dev == o.dev && ino == o.ino) {
                return true;
            }
            int type = mode & S_IFMT;
            return (type == S_IFCHR || type == S_IFBLK) && type == (o.mode & S_IFMT) && rdev == o.rdev;
        }
    }

    static final int SYS_NEWFSTATAT = 262;

    /** stat(2) of {@code path}, following links (as {@code Files.readAttributes} does). */
    public static Stat stat(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        NativeBuffer data = b[1];
        long r = Syscall.raw(SYS_NEWFSTATAT, AT_FDCWD, b[0].address(), data.address(), 0);
        if (r < 0) {
            throw error(path, (int) -r);
        }
        // struct stat on x86_64: st_dev at 0, st_ino at 8, st_mode at 24 (u32), st_rdev at 40, st_size at 48 (s64)
        return new Stat(data.getInt(24), data.getLong(48), data.getLong(0), data.getLong(8), data.getLong(40));
    }

    static final int SYS_MKNODAT = 259, SYS_FCHOWNAT = 260, SYS_FCHMODAT = 268, SYS_UTIMENSAT = 280,
            AT_SYMLINK_NOFOLLOW = 0x100, S_IFIFO = 0010000;

    /** mkfifo(3) (mknod S_IFIFO), which Java lacks; EEXIST as {@link java.nio.file.FileAlreadyExistsException}. */
    public static void mkfifo(String path, int mode) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        long r = Syscall.raw(SYS_MKNODAT, AT_FDCWD, b[0].address(), S_IFIFO | (mode & 07777), 0);
        if (r == -EEXIST) {
            throw new java.nio.file.FileAlreadyExistsException(path);
        }
        if (r < 0) {
            throw error(path, (int) -r);
        }
    }

    /**
     * chown then chmod of {@code path} itself (a link is not followed for the owner), by path: Java's setters open
     * the file, and an open of a FIFO waits for its other side (one of a socket fails).
     */
    public static void chownChmod(String path, int uid, int gid, int mode) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        long r = Syscall.raw(SYS_FCHOWNAT, AT_FDCWD, b[0].address(), uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r >= 0) {
            r = Syscall.raw(SYS_FCHMODAT, AT_FDCWD, b[0].address(), mode & 07777);
        }
        if (r < 0) {
            throw error(path, (int) -r);
        }
    }

    /** utimensat of {@code path}: access and modification times in ns since the epoch, by path (no open). */
    public static void setTimes(String path, long atimeNs, long mtimeNs) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        NativeBuffer times = b[1];
        times.putLong(0, atimeNs / 1_000_000_000L);
        times.putLong(8, atimeNs % 1_000_000_000L);
        times.putLong(16, mtimeNs / 1_000_000_000L);
        times.putLong(24, mtimeNs % 1_000_000_000L);
        long r = Syscall.raw(SYS_UTIMENSAT, AT_FDCWD, b[0].address(), times.address(), 0);
        if (r < 0) {
            throw error(path, (int) -r);
        }
    }

    static final int SYS_STATX = 332, STATX_MNT_ID = 0x1000, SYS_STATFS = 137;

    /** The magic number of the filesystem {@code path} is on (statfs f_type). */
    public static long fsType(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        long r = Syscall.raw(SYS_STATFS, b[0].address(), b[1].address());
        if (r < 0) {
            throw error(path, (int) -r);
        }
        return b[1].getLong(0);
    }

    /** The id of the mount {@code path} is on (statx STATX_MNT_ID, as fdinfo's mnt_id names mounts). */
    public static long mountId(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        NativeBuffer data = b[1];
        long r = Syscall.raw(SYS_STATX, AT_FDCWD, b[0].address(), 0, STATX_MNT_ID, data.address());
        if (r < 0) {
            throw error(path, (int) -r);
        }
        // struct statx: stx_mask at 0 (u32), stx_mnt_id at 144 (u64)
        if ((data.getInt(0) & STATX_MNT_ID) == 0) {
            throw new FileSystemException(path, null, "statx gave no mount id");
        }
        return data.getLong(144);
    }

    /** Where the symbolic link {@code path} points. */
    public static String readLink(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        cString(b, path);
        NativeBuffer data = b[1];
        long n = Syscall.raw(SYS_READLINKAT, AT_FDCWD, b[0].address(), data.address(), data.capacity());
        if (n < 0) {
            throw error(path, (int) -n);
        }
        return new String(data.bytes(0, (int) n), StandardCharsets.UTF_8);
    }

    /** The numeric names in directory {@code path} (as /proc/PID/fd and /proc/PID/task hold), sorted. */
    public static int[] numericNames(String path) throws IOException {
        java.util.List<String> names = names(path);
        int[] out = new int[names.size()];
        int count = 0;
        for (String name : names) {
            if (numeric(name)) {
                out[count++] = Integer.parseInt(name);
            }
        }
        out = Arrays.copyOf(out, count);
        Arrays.sort(out);
        return out;
    }

    /**
     * A new private directory (mode 0700) under {@code parent}, named {@code prefix} and a number: NIO's
     * createTempDirectory seeds a SecureRandom for its name, ~10 ms of a cold start.
     */
    public static String makeTempDir(String parent, String prefix) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        long n = System.nanoTime() ^ ProcessHandle.current().pid() << 32;
        for (int attempt = 0; ; attempt++) {
            String path = parent + "/" + prefix + Long.toHexString(n + attempt);
            cString(b, path);
            long r = Syscall.raw(SYS_MKDIRAT, AT_FDCWD, b[0].address(), 0700);
            if (r == 0) {
                return path;
            }
            if (r != -EEXIST || attempt > 100) {
                throw error(path, (int) -r);
            }
        }
    }

    /** Removes {@code dir} and the files directly in it (no subdirectories); quietly keeps what it cannot remove. */
    public static void removeFlatDir(String dir) {
        NativeBuffer[] b = BUFFERS.get();
        try {
            for (String name : names(dir)) {
                cString(b, dir + "/" + name);
                Syscall.raw(SYS_UNLINKAT, AT_FDCWD, b[0].address(), 0);
            }
            cString(b, dir);
            Syscall.raw(SYS_UNLINKAT, AT_FDCWD, b[0].address(), AT_REMOVEDIR);
        } catch (IOException e) {
            // a leftover temporary directory is harmless
        }
    }

    static final int SYS_FLOCK = 73, LOCK_EX = 2, LOCK_NB = 4, EWOULDBLOCK = 11;

    /**
     * An exclusive flock(2) on directory {@code path}, held until {@link #unlock}: nothing is created in the
     * directory, and the kernel drops the lock with its holder, however that ends (even SIGKILL).
     *
     * @return the descriptor holding the lock, or -1 when another open file description holds it
     */
    public static int tryLockDir(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        int fd = open(b, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        while (true) {
            long r = Syscall.raw(SYS_FLOCK, fd, LOCK_EX | LOCK_NB);
            if (r == 0) {
                return fd;
            }
            if (r == -EINTR) {
                continue;
            }
            Syscall.raw(Syscall.CLOSE, fd);
            if (r == -EWOULDBLOCK) {
                return -1;
            }
            throw error(path, (int) -r);
        }
    }

    /** Lets go of a {@link #tryLockDir} lock. */
    public static void unlock(int fd) {
        Syscall.raw(Syscall.CLOSE, fd);
    }

    /** Digits only (a loop: this runs while a target is frozen, where a first lambda costs a bootstrap). */
    private static boolean numeric(String name) {
        if (name.isEmpty() || name.length() > 9) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            if (name.charAt(i) < '0' || name.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    /** The names in directory {@code path}, without "." and "..". */
    public static java.util.List<String> names(String path) throws IOException {
        NativeBuffer[] b = BUFFERS.get();
        int fd = open(b, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        java.util.List<String> out = new java.util.ArrayList<>();
        try {
            NativeBuffer data = b[1];
            while (true) {
                long n = Syscall.raw(SYS_GETDENTS64, fd, data.address(), data.capacity());
                if (n < 0) {
                    throw error(path, (int) -n);
                }
                if (n == 0) {
                    return out;
                }
                // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[]
                for (int at = 0; at < n; ) {
                    int reclen = data.buffer().getShort(at + 16) & 0xffff;
                    int end = at + 19;
                    while (data.buffer().get(end) != 0) {
                        end++;
                    }
                    String name = new String(data.bytes(at + 19, end - at - 19), StandardCharsets.UTF_8);
                    if (!name.equals(".") && !name.equals("..")) {
                        out.add(name);
                    }
                    at += reclen;
                }
            }
        } finally {
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }

    /**
     * The first {@code bytes} of {@code fd}'s file given blocks (fallocate, mode 0), retried on EINTR: 0, or the
     * errno ({@link #noRoom} names the ones that mean the file system is full).
     */
    public static int fallocate(int fd, long bytes) {
        long r;
        do {
            r = Syscall.raw(Syscall.FALLOCATE, fd, 0, 0, bytes);
        } while (r == -EINTR); // a signal to Cryo, not a verdict
        return (int) -r;
    }

    /** For a file system that has no room (ENOSPC, EDQUOT, EFBIG): the words write() gives; null for any other errno. */
    public static String noRoom(int errno) {
        return switch (errno) {
            case 28 -> "No space left on device";
            case 122 -> "Disk quota exceeded";
            case 27 -> "File too large";
            default -> null;
        };
    }

    /** {@code path} opened with {@code flags} (the caller adds O_CLOEXEC), retried on EINTR; NIO's exceptions. */
    public static int open(String path, int flags, int mode) throws IOException {
        return open(BUFFERS.get(), path, flags, mode);
    }

    private static int open(NativeBuffer[] b, String path, int flags, int mode) throws IOException {
        cString(b, path);
        while (true) {
            long fd = Syscall.raw(Syscall.OPENAT, AT_FDCWD, b[0].address(), flags, mode);
            if (fd == -EINTR) {
                continue;
            }
            if (fd < 0) {
                throw error(path, (int) -fd);
            }
            return (int) fd;
        }
    }

    private static void cString(NativeBuffer[] b, String path) throws IOException {
        byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= 4096) {
            throw new FileSystemException(path, null, "path too long");
        }
        if (bytes.length + 1 > b[0].capacity()) {
            b[0] = NativeBuffer.allocate(4096);
        }
        b[0].put(0, bytes);
        b[0].buffer().put(bytes.length, (byte) 0);
    }

    /** NIO's exception for an errno, so that callers catching NoSuchFileException see one here too. */
    static IOException error(String path, int errno) {
        return switch (errno) {
            case ENOENT, ESRCH -> new NoSuchFileException(path);
            case EACCES, EPERM -> new AccessDeniedException(path);
            default -> new FileSystemException(path, null, SyscallException.describe(errno));
        };
    }
}
