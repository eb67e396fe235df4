package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pipe_data_entry;
import dev.cryo.image.proto.pipe_entry;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Pipes, both ends held by the dumped tree (one task or several), or one end outside it (a pipeline's other
 * program, a runtime's stdio; restored as a new pipe, or as the restorer's fd with --inherit-fd). Dump: the buffered bytes
 * are copied with tee() from the process's own read end (taken with pidfd_getfd), so nothing is consumed.
 * Restore: pipe2() in the first task of the tree that holds an end, then the bytes are written through its write
 * end taken the same way; the other ends are Cryo's copies given to their tasks.
 */
public final class Pipe implements FdKind {
    /** The key of {@link FdRestoreContext#state}'s pipe_id to size map (pipes-data.img's sizes); a pipe's default size. */
    public static final Object SIZES = new Object();
    static final int DEFAULT_SIZE = 65536;
    static final int O_NONBLOCK = 04000, F_GETFL = 3, F_SETFL = 4, F_DUPFD = 0, F_SETPIPE_SZ = 1031,
            F_GETPIPE_SZ = 1032, SPLICE_F_NONBLOCK = 2;
    /** State key: the highest fd number the task will have; a pipe's other end waits above it. */
    public static final String MAX_FD = "max-fd";

    @Override
    public fd_types type() {
        return fd_types.PIPE;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isPipe();
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the pipe " + fd.target();
        try {
            // the data in flight is read from a read end in the tree, and a restore makes the pipe once for every
            // task that holds it
            int[] ends = ends(ctx).get(fd.target());
            if (ends == null) { // a pipe made since the tasks' fds were read
                ctx.tasks().forget("pipe ends");
                ends = ends(ctx).getOrDefault(fd.target(), new int[2]);
            }
            boolean reader = ends[0] > 0, writer = ends[1] > 0;
            // an end outside the tree (a pipeline's other program, a shell's leaked fd, a runtime's stdio) is
            // dumped as CRIU does: the restore makes a new pipe, whose missing end is closed, unless
            // --inherit-fd fd[N]:pipe:[INO] gives the restorer's own pipe in its place
            int other = !reader || !writer ? -1 : holderOutside(ctx, fd.target());
            if (other != 0) {
                ctx.log().info("pid %d: fd %d is %s, whose %s outside the dumped tree; the restore reattaches it "
                        + "with --inherit-fd fd[N]:%s, otherwise it gets a new pipe", ctx.pid(), fd.fd(), fd.target(),
                        other > 0 ? "ends process " + other + " holds too, is" : (reader ? "write" : "read") + " end is",
                        fd.target());
            }
        } catch (java.io.UncheckedIOException e) {
            throw new CryoException(where + ": cannot read its fds: " + e.getCause().getMessage());
        }
    }

    /** Every pipe the tasks hold, with how many read ends and write ends they hold of it; read once per dump. */
    private static java.util.Map<String, int[]> ends(FdDumpContext ctx) {
        return ctx.tasks().once("pipe ends", () -> {
            java.util.Map<String, int[]> ends = new java.util.HashMap<>();
            for (int pid : ctx.tasks().pids()) {
                List<FdInfo> fds;
                try {
                    fds = ctx.proc().fds(pid);
                } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException gone) {
                    continue; // a zombie, or exited since the listing
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                for (FdInfo f : fds) {
                    if (f.isPipe()) {
                        int[] e = ends.computeIfAbsent(f.target(), k -> new int[2]);
                        int mode = f.flags() & RegularFile.O_ACCMODE;
                        e[0] += mode == 0 ? 1 : 0;
                        e[1] += mode == RegularFile.O_WRONLY ? 1 : 0;
                    }
                }
            }
            return ends;
        });
    }

    /**
     * A process outside the dumped tree (and not Cryo) holding {@code target} (a pipe:[N] or socket:[N]), or 0. Every
     * other process's fds are read once per dump, into an index of the pipes and sockets they hold: searched once a
     * pipe, a tree of a few thousand pipes took minutes to check.
     */
    static int holderOutside(FdDumpContext ctx, String target) {
        return ctx.tasks().once("holders outside", () -> holdersOutside(ctx.tasks().pids(),
                link -> link.startsWith("pipe:[") || link.startsWith("socket:["))).getOrDefault(target, 0);
    }

    /** The files {@code wanted} names that processes outside {@code tasks} (and not Cryo) hold, each with one of them. */
    private static java.util.Map<String, Integer> holdersOutside(java.util.Set<Integer> tasks,
                                                                 java.util.function.Predicate<String> wanted) {
        java.util.Map<String, Integer> holders = new java.util.HashMap<>();
        dev.cryo.engine.proc.ProcFs proc = new dev.cryo.engine.proc.ProcFs();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path p : procs) {
                int other = Integer.parseInt(p.getFileName().toString());
                if (tasks.contains(other) || other == ProcessHandle.current().pid()) {
                    continue;
                }
                java.util.List<String> held = new java.util.ArrayList<>();
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(p.resolve("fd"))) {
                    for (Path f : fds) {
                        try {
                            String link = Files.readSymbolicLink(f).toString();
                            if (wanted.test(link)) {
                                held.add(link);
                            }
                        } catch (IOException gone) {
                            // closed meanwhile
                        }
                    }
                } catch (IOException | SecurityException unreadable) {
                    // exited, or a kernel thread
                }
                // one forked since the tree was listed (a shell's loop runs `sleep`) is not outside: the freeze takes it in
                if (!held.isEmpty() && !proc.descendsFrom(other, tasks)) {
                    held.forEach(link -> holders.putIfAbsent(link, other));
                }
            }
        } catch (IOException e) {
            return holders;
        }
        return holders;
    }

    /** A process outside {@code tasks} (and not Cryo) holding {@code target} (a FIFO's path), or 0. */
    static int holderOutside(java.util.Set<Integer> tasks, String target) {
        return holdersOutside(tasks, target::equals).getOrDefault(target, 0);
    }

    static int pipeId(String target) {
        return (int) Long.parseLong(target.substring("pipe:[".length(), target.length() - 1));
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        int pipeId = pipeId(fd.target());
        boolean readEnd = (fd.flags() & RegularFile.O_ACCMODE) == 0;
        boolean seen = ctx.pipesData().stream().anyMatch(e -> ((pipe_data_entry) e.message()).getPipeId() == pipeId);
        if (readEnd && !seen) {
            ctx.pipesData().add(contents(ctx.pid(), fd.fd(), pipeId));
        }
        return file_entry.newBuilder().setType(fd_types.PIPE).setId(id).setPipe(pipe_entry.newBuilder().setId(id)
                .setPipeId(pipeId).setFlags(fd.flags() & ~RegularFile.O_CLOEXEC).setFown(RegularFile.noOwner())).build();
    }

    /** The pipe's buffered bytes, copied without consuming them. */
    static ImageEntry contents(int pid, int fd, int pipeId) throws CryoException {
        int pidfd = -1, theirs = -1, ourR = -1, ourW = -1;
        try {
            pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
            theirs = (int) Syscall.call("pidfd_getfd(" + pid + ", " + fd + ")", Syscall.PIDFD_GETFD, pidfd, fd, 0);
            int size = (int) Syscall.call("fcntl(F_GETPIPE_SZ)", Syscall.FCNTL, theirs, F_GETPIPE_SZ);
            NativeBuffer fds = NativeBuffer.allocate(8);
            Syscall.call("pipe2", Syscall.PIPE2, fds.address(), O_NONBLOCK);
            ourR = fds.getInt(0);
            ourW = fds.getInt(4);
            Syscall.call("fcntl(F_SETPIPE_SZ)", Syscall.FCNTL, ourW, F_SETPIPE_SZ, size);
            long n = Syscall.raw(Syscall.TEE, theirs, ourW, size, SPLICE_F_NONBLOCK);
            if (n == -11 /* EAGAIN: empty */) {
                n = 0;
            } else if (n < 0) {
                throw new SyscallException("tee", (int) -n);
            }
            NativeBuffer data = NativeBuffer.allocate((int) Math.max(n, 1));
            long got = 0;
            while (got < n) {
                got += Syscall.call("read", Syscall.READ, ourR, data.address() + got, n - got);
            }
            var e = pipe_data_entry.newBuilder().setPipeId(pipeId).setBytes((int) n).setSize(size).build();
            return new ImageEntry(e, data.bytes(0, (int) n));
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading pipe:[" + pipeId + "] at fd " + fd
                    + " failed: " + e.getMessage(), e);
        } finally {
            for (int f : new int[]{ourR, ourW, theirs, pidfd}) {
                if (f >= 0) {
                    Syscall.raw(Syscall.CLOSE, f);
                }
            }
        }
    }

    /**
     * The first fd of a pipe met anywhere in the tree makes it: pipe2() in that task, refilled, and Cryo keeps
     * both ends (pidfd_getfd); every other end, in this task or another, is Cryo's copy given to it, so a pipe
     * between parent and child comes back one pipe with its bytes in flight.
     */
    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        pipe_entry p = file.getPipe();
        String key = "pipe:" + p.getPipeId();
        try {
            SharedFiles cryo = SharedFiles.of(ctx);
            int[] ours = (int[]) ctx.state().get(key); // Cryo's copies of the read and the write end
            boolean wantWrite = (p.getFlags() & RegularFile.O_ACCMODE) == RegularFile.O_WRONLY;
            int end = wantWrite ? 1 : 0;
            boolean[] given = (boolean[]) ctx.state().computeIfAbsent(key + ":given", k -> new boolean[2]);
            int got;
            if (ours == null) {
                int[] ends = create(ctx, p.getPipeId());
                ours = new int[]{cryo.take(ctx.pid(), ends[0]), cryo.take(ctx.pid(), ends[1])};
                ctx.state().put(key, ours);
                got = ends[end];
                ctx.syscall().call("close", Syscall.CLOSE, ends[1 - end]);
            } else if (!given[end]) {
                got = cryo.give(ctx, ours[end]);
            } else {
                got = reopen(ctx, cryo, ours[end], wantWrite);
            }
            given[end] = true;
            if ((p.getFlags() & O_NONBLOCK) != 0) {
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, F_SETFL, O_NONBLOCK);
            }
            return got;
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": pipe:[" + p.getPipeId() + "] at fd "
                    + fd.getFd() + ": " + e.getMessage(), e);
        }
    }

    /**
     * One more open file description of a pipe end that already has one: a program that opened /proc/self/fd/N of
     * its own pipe holds two, each with its own flags (O_NONBLOCK on one is not on the other). Opened the same way,
     * through Cryo's copy of the end; Cryo holds both ends, so the open does not wait for the other side.
     */
    private static int reopen(FdRestoreContext ctx, SharedFiles cryo, int mine, boolean write)
            throws SyscallException, CryoException {
        int fresh;
        try {
            fresh = dev.cryo.engine.sys.DirectFiles.open("/proc/self/fd/" + mine,
                    (write ? RegularFile.O_WRONLY : 0) | RegularFile.O_CLOEXEC, 0);
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": cannot open the pipe end again (a second "
                    + "open file description of it): " + e.getMessage(), e);
        }
        try {
            return cryo.give(ctx, fresh);
        } finally {
            Syscall.raw(Syscall.CLOSE, fresh);
        }
    }

    /**
     * Warns, before the restore, of each pipe that comes back with one end only: its other end was outside the dumped
     * tree (a pipeline's other program, a harness reading the program's output) and no {@code --inherit-fd
     * fd[N]:pipe:[ID]} gives it. The restore goes on, as CRIU's does, but the program then meets what a closed end
     * gives: SIGPIPE (or EPIPE) on its first write, end of file on its first read. Said here, where the user sees it
     * by default, rather than only in the dump's info lines.
     */
    public static void warnHalfPipes(java.util.List<file_entry> files, java.util.List<FileOptions.InheritFd> inherited,
                                     dev.cryo.engine.log.Log log) {
        java.util.Map<Integer, boolean[]> ends = new java.util.TreeMap<>(); // pipe id: {a read end, a write end}
        for (file_entry f : files) {
            if (f.getType() == fd_types.PIPE && f.hasPipe()) {
                boolean write = (f.getPipe().getFlags() & RegularFile.O_ACCMODE) == RegularFile.O_WRONLY;
                ends.computeIfAbsent(f.getPipe().getPipeId(), k -> new boolean[2])[write ? 1 : 0] = true;
            }
        }
        ends.forEach((id, held) -> {
            String resource = "pipe:[" + Integer.toUnsignedString(id) + "]";
            if (held[0] == held[1] || inherited.stream().anyMatch(i -> i.resource().equals(resource))) {
                return;
            }
            log.warn("%s comes back without a %s: its %s end was outside the dumped tree, and no --inherit-fd "
                    + "fd[N]:%s gives one; %s", resource, held[1] ? "reader" : "writer", held[1] ? "read" : "write",
                    resource, held[1] ? "a write to it raises SIGPIPE (EPIPE where SIGPIPE is ignored)"
                            : "a read from it returns end of file");
        });
    }

    /** pipe2() in the new task, refilled with the bytes it held. */
    @SuppressWarnings("unchecked")
    private static int[] create(FdRestoreContext ctx, int pipeId) throws SyscallException {
        long at = ctx.scratch().address() + 2048;
        ctx.syscall().call("pipe2", Syscall.PIPE2, at, 0);
        byte[] raw = ctx.scratch().read(2048, 8);
        int r = (raw[0] & 0xff) | (raw[1] & 0xff) << 8 | (raw[2] & 0xff) << 16 | (raw[3] & 0xff) << 24;
        int w = (raw[4] & 0xff) | (raw[5] & 0xff) << 8 | (raw[6] & 0xff) << 16 | (raw[7] & 0xff) << 24;
        Integer size = ((Map<Integer, Integer>) ctx.state().getOrDefault(SIZES, Map.of())).get(pipeId);
        refill(ctx.pid(), w, ctx.pipesData().get(pipeId), size == null ? 0 : size);
        return new int[]{r, w};
    }

    /**
     * Writes the bytes a pipe (or FIFO) held through fd {@code fd} of task {@code pid}, taken into Cryo with
     * pidfd_getfd: the new task need not run, and the pipe is grown first when the bytes exceed its default size.
     */
    static void refill(int pid, int fd, byte[] data) throws SyscallException {
        refill(pid, fd, data, 0);
    }

    /**
     * As {@link #refill(int, int, byte[])}, the pipe given its dumped {@code size} first ({@code F_SETPIPE_SZ}; 0: the
     * default), empty or not: a program that grew its pipe counts on writes that large not blocking.
     */
    static void refill(int pid, int fd, byte[] data, int size) throws SyscallException {
        int bytes = data == null ? 0 : data.length;
        int want = Math.max(size == DEFAULT_SIZE ? 0 : size, bytes > DEFAULT_SIZE ? bytes : 0);
        if (bytes == 0 && want == 0) {
            return;
        }
        int pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
        int ours = -1;
        try {
            ours = (int) Syscall.call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, fd, 0);
            if (want > 0) {
                Syscall.call("fcntl(F_SETPIPE_SZ, " + want + ")", Syscall.FCNTL, ours, F_SETPIPE_SZ, want);
            }
            if (bytes == 0) {
                return;
            }
            NativeBuffer b = NativeBuffer.allocate(data.length);
            b.put(0, data);
            long done = 0;
            while (done < data.length) {
                done += Syscall.call("write", Syscall.WRITE, ours, b.address() + done, data.length - done);
            }
        } finally {
            if (ours >= 0) {
                Syscall.raw(Syscall.CLOSE, ours);
            }
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }
}
