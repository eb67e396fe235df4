package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.file_lock_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * File locks a task holds: {@code flock} (owned by the open file description), POSIX record locks (owned by the
 * process, {@code fcntl(F_SETLK)} and {@code lockf}) and OFD locks ({@code F_OFD_SETLK}, owned by the description).
 * Dumped only with {@code -l/--file-locks}, as CRIU does; without it a task holding one is refused before it is
 * touched, naming the fd and the option. Found in the {@code lock:} lines of /proc/PID/fdinfo/N (one per lock the fd's
 * description holds; a dup shows the same ones, saved once), written to {@code filelocks.img} as CRIU's
 * file_lock_entry (flag FL_POSIX 1, FL_FLOCK 2, FL_OFD 4, FL_LEASE 32; type F_RDLCK 0 or F_WRLCK 1; len 0 = to EOF).
 * A lease ({@code F_SETLEASE}) is its description's too, and taken again with F_SETLEASE; one being broken (another
 * process opened the file and waits) is refused.
 * Restore takes each lock again in the new task through its fd once every fd is in place, without waiting: a lock
 * someone else took meanwhile fails the restore with its name.
 */
public final class FileLocks {
    public static final String IMAGE = "filelocks.img";
    static final int FL_POSIX = 1, FL_FLOCK = 2, FL_OFD = 4, FL_LEASE = 32;
    static final int F_RDLCK = 0, F_WRLCK = 1;
    static final int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    static final int F_SETLK = 6, F_OFD_SETLK = 37, F_SETLEASE = 1024;
    static final int FLOCK = 73;

    private FileLocks() {
    }

    /** One lock: line of /proc/PID/fdinfo/N; null for a waiter ("->") or a kind Cryo does not take (leases). */
    record Lock(int flag, int type, int pid, long start, long len, String text) {
        static Lock parse(String line) {
            String[] w = line.trim().split("\\s+");
            // "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"
            if (w.length < 8 || w[1].equals("->")) {
                return null;
            }
            int flag = switch (w[1]) {
                case "POSIX" -> FL_POSIX;
                case "FLOCK" -> FL_FLOCK;
                case "OFDLCK" -> FL_OFD;
                case "LEASE" -> w[2].equals("ACTIVE") ? FL_LEASE : 0; // BREAKING, BREAKER: a lease being broken
                default -> 0;
            };
            int type = switch (w[3]) {
                case "READ" -> F_RDLCK;
                case "WRITE" -> F_WRLCK;
                default -> -1;
            };
            long start = Long.parseLong(w[6]);
            long len = w[7].equals("EOF") ? 0 : Long.parseLong(w[7]) - start + 1;
            return new Lock(flag, type, Integer.parseInt(w[4]), start, len, String.join(" ", java.util.Arrays.copyOfRange(w, 1, w.length)));
        }

        String kind() {
            return flag == FL_FLOCK ? "flock" : flag == FL_OFD ? "OFD lock" : flag == FL_LEASE ? "lease" : "POSIX lock";
        }
    }

    /** The locks the fd's description holds (every lock: line of its fdinfo). */
    static List<String> lockLines(FdDumpContext ctx, FdInfo fd) throws CryoException {
        if (!fd.extra().containsKey("lock")) {
            return List.of();
        }
        try {
            List<String> out = new ArrayList<>();
            for (String line : Files.readAllLines(ctx.proc().dir(ctx.pid()).resolve("fdinfo/" + fd.fd()))) {
                if (line.startsWith("lock:")) {
                    out.add(line.substring("lock:".length()).trim());
                }
            }
            return out;
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + ": cannot read its locks: "
                    + e.getMessage(), e);
        }
    }

    /** Refuses a held lock without --file-locks, and a lock Cryo cannot take again, before the task is touched. */
    public static void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        for (String line : lockLines(ctx, fd)) {
            String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target() + ") holds a file lock ("
                    + line.replaceAll("\\s+", " ") + ")";
            if (!ctx.options().files().fileLocks()) {
                throw new CryoException(where + "; dump with -l/--file-locks to save it, as CRIU requires");
            }
            Lock l = Lock.parse(line);
            if (l != null && (l.flag() == 0 || l.type() < 0)) {
                throw new CryoException(where + ", a kind of lock Cryo cannot take again (a lease being broken, or a "
                        + "mandatory lock)");
            }
        }
    }

    /** The locks of one dump, noted fd by fd. */
    public static final class Dump {
        private final List<file_lock_entry> entries = new ArrayList<>();
        private final Set<String> seen = new HashSet<>();

        /** Notes the locks fd {@code fd} holds (a dup of an fd already noted adds nothing). */
        public void collect(FdDumpContext ctx, FdInfo fd) throws CryoException {
            if (!ctx.options().files().fileLocks()) {
                return;
            }
            for (String line : lockLines(ctx, fd)) {
                Lock l = Lock.parse(line);
                if (l == null || l.flag() == 0) {
                    continue;
                }
                // a POSIX lock is the process's: its text (type, inode, range) names it once. A flock or OFD lock is its
                // description's and shows on each dup too; taken again through each, it is still one lock
                String key = (l.flag() == FL_POSIX ? "" : fd.fd() + " ") + l.text();
                if (!seen.add(key)) {
                    continue;
                }
                entries.add(file_lock_entry.newBuilder().setFlag(l.flag()).setType(l.type()).setPid(ctx.pid())
                        .setFd(fd.fd()).setStart(l.start()).setLen(l.len()).build());
                ctx.log().info("fd %d: %s (%s) saved", fd.fd(), l.kind(), l.text());
            }
        }

        public void write(ImageDir dir, int pid) throws CryoException {
            if (entries.isEmpty()) {
                return;
            }
            try {
                dir.write(IMAGE, ImageFile.of("FILE_LOCKS", entries));
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": writing " + IMAGE + " failed: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Reads filelocks.img (when there is one) and has the locks of task {@code ctx.pid()} taken again once its fds
     * are in place.
     */
    public static void restoreAfterFds(FdRestoreContext ctx, ImageDir dir) throws CryoException {
        if (!dir.exists(IMAGE)) {
            return;
        }
        List<file_lock_entry> locks;
        try {
            locks = dir.read(IMAGE).entries(file_lock_entry.class);
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": cannot read " + IMAGE + ": " + e.getMessage(), e);
        }
        List<file_lock_entry> mine = locks.stream().filter(l -> l.getPid() == ctx.pid()).toList();
        if (!mine.isEmpty()) {
            ctx.afterFds(() -> {
                for (file_lock_entry l : mine) {
                    take(ctx, l);
                }
            });
        }
    }

    private static void take(FdRestoreContext ctx, file_lock_entry l) throws CryoException {
        boolean whole = (l.getFlag() & (FL_FLOCK | FL_LEASE)) != 0;
        String what = (l.getFlag() & FL_FLOCK) != 0 ? "flock" : (l.getFlag() & FL_OFD) != 0 ? "OFD lock"
                : (l.getFlag() & FL_LEASE) != 0 ? "lease" : "POSIX lock";
        String range = whole ? "" : " on bytes " + l.getStart() + (l.getLen() == 0 ? " to EOF"
                : " to " + (l.getStart() + l.getLen() - 1));
        try {
            if ((l.getFlag() & FL_LEASE) != 0) {
                ctx.syscall().call("fcntl(" + l.getFd() + ", F_SETLEASE)", Syscall.FCNTL, l.getFd(), F_SETLEASE,
                        l.getType() == F_WRLCK ? F_WRLCK : F_RDLCK);
            } else if ((l.getFlag() & FL_FLOCK) != 0) {
                int cmd = (l.getType() == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB;
                ctx.syscall().call("flock(" + l.getFd() + ")", FLOCK, l.getFd(), cmd);
            } else {
                NativeBuffer fl = NativeBuffer.allocate(32); // struct flock: l_type, l_whence, l_start, l_len, l_pid
                fl.putInt(0, l.getType() & 0xffff); // l_type, then l_whence SEEK_SET (0)
                fl.putLong(8, l.getStart());
                fl.putLong(16, l.getLen());
                fl.putInt(24, 0);
                long at = ctx.scratch().address() + 3072;
                ctx.scratch().write(3072, fl.bytes(0, 32));
                int cmd = (l.getFlag() & FL_OFD) != 0 ? F_OFD_SETLK : F_SETLK;
                ctx.syscall().call("fcntl(" + l.getFd() + ", F_SETLK)", Syscall.FCNTL, l.getFd(), cmd, at);
            }
            ctx.log().info("fd %d: %s%s taken again", l.getFd(), what, range);
        } catch (SyscallException e) {
            boolean taken = e.errno() == 11 /* EAGAIN */ || e.errno() == 13 /* EACCES */;
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + l.getFd() + ": its "
                    + (l.getType() == F_WRLCK ? "exclusive " : "shared ") + what + range + " cannot be taken again: "
                    + (taken ? "another process holds a conflicting lock on the file now, or has it open in a way a "
                    + "lease does not allow" : e.getMessage()), e);
        }
    }
}
