package dev.cryo.engine.resource;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.fown_entry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Who an open file description signals, for signal-driven I/O and out-of-band data: its owner ({@code F_SETOWN},
 * {@code F_SETOWN_EX}: a thread, a process or a process group), the signal it sends instead of SIGIO
 * ({@code F_SETSIG}) and the credentials the owner was set with. They belong to the description, not to the fd, so
 * Cryo reads them on its own copy of the fd ({@code pidfd_getfd}) and writes them as CRIU does, in the
 * {@code fown_entry} of the file's entry in files.img (a FIFO's in the REG entry it names).
 * <p>
 * On restore they are set in the task, on the description the fd was made with, before the task's credentials are
 * set again: the owner's recorded credentials are then the restorer's (root), which only widens whom the kernel lets
 * the signal reach. {@code O_ASYNC} is set again with {@code F_SETFL}, the one call that makes the file send signals
 * ({@code open} keeps the flag without doing so). An owner that is not there after the restore (a process outside
 * the tree) is left out with a warning: the file then signals nobody, as a file with no owner.
 */
public final class FileOwner {
    static final int F_GETFL = 3, F_SETFL = 4, F_SETSIG = 10, F_GETSIG = 11, F_SETOWN_EX = 15, F_GETOWN_EX = 16,
            F_GETOWNER_UIDS = 17;
    public static final int O_ASYNC = 020000;
    static final int F_OWNER_TID = 0, F_OWNER_PID = 1, F_OWNER_PGRP = 2;
    private static final int ESRCH = 3;

    private FileOwner() {
    }

    /**
     * Whether {@code fd} can have an owner worth keeping: one set for signal-driven I/O, or on a kind of file that
     * sends signals by itself or once O_ASYNC is set (sockets send SIGURG to theirs, pipes, FIFOs, terminals,
     * inotify). A regular file's or a directory's owner only serves leases and dnotify, which Cryo does not keep.
     */
    static boolean worthReading(FdInfo fd) {
        return (fd.flags() & O_ASYNC) != 0 || !fd.isPath() || fd.isFifo() || fd.target().startsWith("/dev/");
    }

    /** Reads the owners of one task's fds, through one pidfd of the task. */
    public static final class Reader implements AutoCloseable {
        private final FdDumpContext ctx;
        private final NativeBuffer buf = NativeBuffer.allocate(16);
        private int pidfd = -1;
        private Boolean samePidNs;

        public Reader(FdDumpContext ctx) {
            this.ctx = ctx;
        }

        /**
         * {@code entry}, the file {@code fd} was dumped as, with its owner and signal when it has either; as it is
         * otherwise. Runs while the task is frozen.
         */
        public file_entry keep(FdInfo fd, file_entry entry) {
            if (!worthReading(fd)) {
                return entry;
            }
            fown_entry owner = read(fd);
            if (owner == null) {
                return entry;
            }
            if (entry.hasFifo()) {
                ctx.fifos().setOwner(entry.getFifo().getRegfId(), owner);
                return entry;
            }
            return withOwner(entry, owner);
        }

        /**
         * The fd's owner, or null when it has neither owner nor signal, or when Cryo may not take a copy of the fd
         * (a seccomp profile refusing pidfd_getfd): then the dump goes on without it, and says so.
         */
        private fown_entry read(FdInfo fd) {
            int pid = ctx.pid();
            int ours = -1;
            try {
                if (pidfd < 0) {
                    pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
                }
                ours = (int) Syscall.call("pidfd_getfd(" + pid + ", " + fd.fd() + ")", Syscall.PIDFD_GETFD, pidfd,
                        fd.fd(), 0);
                int signum = (int) Syscall.call("fcntl(F_GETSIG)", Syscall.FCNTL, ours, F_GETSIG);
                buf.zero(0, 16);
                Syscall.call("fcntl(F_GETOWN_EX)", Syscall.FCNTL, ours, F_GETOWN_EX, buf.address());
                int type = buf.getInt(0), owner = buf.getInt(4);
                if (owner == 0 && signum == 0) {
                    return null;
                }
                int uid = 0, euid = 0;
                if (owner != 0) {
                    Syscall.call("fcntl(F_GETOWNER_UIDS)", Syscall.FCNTL, ours, F_GETOWNER_UIDS, buf.address() + 8);
                    uid = buf.getInt(8);
                    euid = buf.getInt(12);
                    owner = inTaskNs(fd, type, owner);
                }
                ctx.log().debug("pid %d: fd %d is owned by %s %d (uid %d, euid %d), signal %d", pid, fd.fd(),
                        typeName(type), owner, uid, euid, signum);
                return fown_entry.newBuilder().setUid(uid).setEuid(euid).setSignum(signum)
                        .setPidType(owner == 0 ? 0 : type).setPid(owner).build();
            } catch (SyscallException e) {
                ctx.log().warn("pid %d: fd %d (%s): its owner (F_GETOWN_EX, F_GETSIG) cannot be read (%s); it comes "
                        + "back with none", pid, fd.fd(), fd.target(), e.getMessage());
                return null;
            } finally {
                if (ours >= 0) {
                    Syscall.raw(Syscall.CLOSE, ours);
                }
            }
        }

        /**
         * The owner's number in the task's pid namespace: as Cryo sees it when they share one, else its level of
         * NSpid; 0, with a warning, when the task cannot see it (a process of another namespace, a group whose
         * leader is gone).
         */
        private int inTaskNs(FdInfo fd, int type, int owner) {
            int pid = ctx.pid();
            ProcFs proc = ctx.proc();
            try {
                if (samePidNs == null) {
                    samePidNs = DirectFiles.readLink("/proc/self/ns/pid").equals(proc.link(pid, "ns/pid"));
                }
                if (samePidNs) {
                    return owner;
                }
                String[] theirs = proc.status(owner).get("NSpid").trim().split("\\s+");
                String[] task = proc.status(pid).get("NSpid").trim().split("\\s+");
                if (theirs.length == task.length) {
                    return Integer.parseInt(theirs[theirs.length - 1]);
                }
            } catch (IOException | RuntimeException e) {
                // below: the task cannot name it
            }
            ctx.log().warn("pid %d: fd %d (%s) signals %s %d, which its pid namespace does not hold: the owner is not "
                    + "kept", pid, fd.fd(), fd.target(), typeName(type), owner);
            return 0;
        }

        @Override
        public void close() {
            if (pidfd >= 0) {
                Syscall.raw(Syscall.CLOSE, pidfd);
                pidfd = -1;
            }
        }
    }

    private static String typeName(int type) {
        return switch (type) {
            case F_OWNER_TID -> "thread";
            case F_OWNER_PGRP -> "process group";
            default -> "process";
        };
    }

    /** {@code entry} with {@code owner} in the fown field of the part it is (reg, isk, usk, pipe, tty...). */
    static file_entry withOwner(file_entry entry, fown_entry owner) {
        for (FieldDescriptor f : entry.getDescriptorForType().getFields()) {
            if (f.getJavaType() != FieldDescriptor.JavaType.MESSAGE || !entry.hasField(f)) {
                continue;
            }
            Message part = (Message) entry.getField(f);
            FieldDescriptor fown = part.getDescriptorForType().findFieldByName("fown");
            if (fown != null) {
                return entry.toBuilder().setField(f, part.toBuilder().setField(fown, owner).build()).build();
            }
        }
        return entry;
    }

    private static final String LATER = "fown: owners to set once every task and thread is made, of pid ";

    /**
     * Sets {@code owner} on {@code fd}; false when the owner is not there (ESRCH) and this is not the {@code last}
     * try, else a warning.
     */
    private static boolean setOwner(FdRestoreContext ctx, int fd, fown_entry owner, int scratchOffset, boolean last)
            throws SyscallException {
        RemoteScratch scratch = ctx.scratch();
        byte[] ex = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(owner.getPidType())
                .putInt(owner.getPid()).array();
        scratch.write(scratchOffset, ex);
        try {
            ctx.syscall().call("fcntl(F_SETOWN_EX)", Syscall.FCNTL, fd, F_SETOWN_EX, scratch.address() + scratchOffset);
            return true;
        } catch (SyscallException e) {
            if (e.errno() != ESRCH) {
                throw e;
            }
            if (!last) {
                return false;
            }
            ctx.log().warn("pid %d: fd %d signalled %s %d, which is not there after the restore: it signals nobody now",
                    ctx.pid(), fd, typeName(owner.getPidType()), owner.getPid());
            return true;
        }
    }

    /**
     * Sets the owners {@link #restore} found missing (threads, tasks made later), now that every task and thread of
     * the tree is made; before the task runs.
     */
    public static void restoreLater(FdRestoreContext ctx, int scratchOffset) throws SyscallException {
        @SuppressWarnings("unchecked")
        java.util.List<Object[]> later = (java.util.List<Object[]>) ctx.state().remove(LATER + ctx.pid());
        if (later == null) {
            return;
        }
        for (Object[] l : later) {
            setOwner(ctx, (Integer) l[0], (fown_entry) l[1], scratchOffset, true);
        }
    }

    /** The value of the field {@code name} of the part {@code entry} is, or null when it has none. */
    private static Object field(file_entry entry, String name) {
        // the common kinds without the descriptors' reflection (slow while the code is still interpreted)
        if (entry.hasReg() && (name.equals("fown") || name.equals("flags"))) {
            var r = entry.getReg();
            return name.equals("fown") ? (r.hasFown() ? r.getFown() : null) : (r.hasFlags() ? (Object) r.getFlags() : null);
        }
        if (entry.hasPipe() && (name.equals("fown") || name.equals("flags"))) {
            var p = entry.getPipe();
            return name.equals("fown") ? (p.hasFown() ? p.getFown() : null) : (p.hasFlags() ? (Object) p.getFlags() : null);
        }
        for (FieldDescriptor f : entry.getDescriptorForType().getFields()) {
            if (f.getJavaType() != FieldDescriptor.JavaType.MESSAGE || !entry.hasField(f)) {
                continue;
            }
            Message part = (Message) entry.getField(f);
            FieldDescriptor field = part.getDescriptorForType().findFieldByName(name);
            if (field != null && part.hasField(field)) {
                return part.getField(field);
            }
        }
        return null;
    }

    /**
     * Sets the owner, the signal and O_ASYNC of the description {@code fd} of the task that {@code ctx} builds,
     * as {@code entry} (for a FIFO, {@code reg}: the REG entry it names) has them.
     */
    public static void restore(FdRestoreContext ctx, file_entry entry, file_entry reg, int fd, int scratchOffset)
            throws SyscallException {
        file_entry from = entry.hasFifo() && reg != null ? reg : entry;
        Object o = field(from, "fown");
        Object f = field(from, "flags");
        int flags = f instanceof Integer i ? i : 0;
        if ((flags & O_ASYNC) != 0) {
            // the fd's kind made it without O_ASYNC (FdRestoreContext#open): setting it now registers the file for
            // signals, under the number a signal names (si_fd); first, as a terminal then takes an owner of its own
            long now = ctx.syscall().call("fcntl(F_GETFL)", Syscall.FCNTL, fd, F_GETFL);
            ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, fd, F_SETFL, now | O_ASYNC);
        }
        if (o instanceof fown_entry owner) {
            if (owner.getSignum() != 0) {
                ctx.syscall().call("fcntl(F_SETSIG)", Syscall.FCNTL, fd, F_SETSIG, owner.getSignum());
            }
            if (owner.getPid() != 0 && !setOwner(ctx, fd, owner, scratchOffset, false)) {
                // a thread not made yet (threads come after the fds), or one of a task built later: once all are
                @SuppressWarnings("unchecked")
                java.util.List<Object[]> later = (java.util.List<Object[]>) ctx.state()
                        .computeIfAbsent(LATER + ctx.pid(), k -> new java.util.ArrayList<Object[]>());
                later.add(new Object[] {fd, owner});
            }
        }
    }

}
