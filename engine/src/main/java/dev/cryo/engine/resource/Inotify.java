package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.fh_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.inotify_file_entry;
import dev.cryo.image.proto.inotify_wd_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * inotify: its watches, each an inode, a mask and a watch descriptor number. fdinfo names a watched inode by its
 * file handle; the engine opens the handle (open_by_handle_at on a mount of that filesystem) to learn a path, which
 * goes into the image beside the handle. Restore adds the watches in wd order; a gap in the numbers (the program
 * removed watches) is skipped by adding and removing a watch until the kernel's cyclic counter reaches the wanted
 * number, and the IN_IGNORED events this queues are read off before the task runs. Events queued but not read at
 * dump time are lost, as with CRIU.
 */
public final class Inotify implements FdKind {
    static final int INOTIFY_INIT1 = 294, INOTIFY_ADD_WATCH = 254, INOTIFY_RM_WATCH = 255, OPEN_BY_HANDLE_AT = 304,
            POLL = 7;
    static final int O_PATH = 010000000, O_DIRECTORY = 0200000, IN_DONT_FOLLOW = 0x02000000, MAX_GAP = 1 << 16;

    @Override
    public fd_types type() {
        return fd_types.INOTIFY;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:inotify");
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        watches(ctx, fd, 0);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        var e = inotify_file_entry.newBuilder().setId(id).setFlags(EventObjects.fileFlags(fd))
                .setFown(RegularFile.noOwner()).addAllWd(watches(ctx, fd, id));
        return file_entry.newBuilder().setType(fd_types.INOTIFY).setId(id).setIfy(e).build();
    }

    static List<inotify_wd_entry> watches(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        List<inotify_wd_entry> out = new ArrayList<>();
        for (String line : EventObjects.startingWith(EventObjects.fdinfoLines(ctx, fd), "inotify ")) {
            int wd = Integer.parseInt(EventObjects.field(line, "wd"), 16);
            long ino = Long.parseLong(EventObjects.field(line, "ino"), 16);
            int sdev = (int) Long.parseLong(EventObjects.field(line, "sdev"), 16);
            int bytes = Integer.parseInt(EventObjects.field(line, "fhandle-bytes"), 16);
            int type = Integer.parseInt(EventObjects.field(line, "fhandle-type"), 16);
            byte[] handle = hex(EventObjects.field(line, "f_handle"), bytes);
            String path = pathOf(ctx, fd, "inotify) watch " + wd, sdev, ino, type, handle);
            var fh = handleEntry(bytes, type, handle, path);
            out.add(inotify_wd_entry.newBuilder().setId(id).setIIno(ino).setSDev(sdev).setWd(wd)
                    .setMask((int) Long.parseLong(EventObjects.field(line, "mask"), 16))
                    .setIgnoredMask((int) Long.parseLong(EventObjects.field(line, "ignored_mask"), 16))
                    .setFHandle(fh).build());
        }
        out.sort(Comparator.comparingInt(inotify_wd_entry::getWd));
        return out;
    }

    /** The image's file handle: its bytes as 64-bit words, and the path found for it. */
    static fh_entry.Builder handleEntry(int bytes, int type, byte[] handle, String path) {
        var fh = fh_entry.newBuilder().setBytes(bytes).setType(type).setPath(path);
        for (int i = 0; i < handle.length; i += 8) {
            long w = 0;
            for (int b = 0; b < 8 && i + b < handle.length; b++) {
                w |= (handle[i + b] & 0xffL) << (8 * b);
            }
            fh.addHandle(w);
        }
        return fh;
    }

    static byte[] hex(String s, int bytes) {
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes && 2 * i + 1 < s.length(); i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    /**
     * A watched file deleted but held open by a task of the tree (a log a program watches and keeps writing after it
     * was removed): its fd is dumped as a ghost, made again at its old name for the restore and removed before the
     * tasks run, so the watch is added again by that name, on the file the fd reopens. The old name, or null.
     */
    static String heldDeleted(FdDumpContext ctx, int sdev, long ino) {
        long dev = InodeSearch.statDev(sdev);
        List<Integer> tasks = new ArrayList<>(List.of(ctx.pid()));
        ctx.tasks().pids().stream().filter(t -> t != ctx.pid()).forEach(tasks::add);
        for (int task : tasks) {
            List<FdInfo> fds;
            try {
                fds = ctx.proc().fds(task);
            } catch (IOException gone) {
                continue;
            }
            for (FdInfo f : fds) {
                if (!DeletedFiles.isDeleted(f.target())) {
                    continue;
                }
                try {
                    DirectFiles.Stat st = DirectFiles.stat(ctx.proc().dir(task) + "/fd/" + f.fd());
                    if (st.ino() == ino && st.dev() == dev) {
                        return DeletedFiles.originalPath(f.target());
                    }
                } catch (IOException closed) {
                    // closed meanwhile: the next
                }
            }
        }
        return null;
    }

    /**
     * The path of a watched inode, found through its file handle on a mount of its filesystem; {@code what} ends the
     * fd's description in an error ("inotify) watch 3").
     */
    static String pathOf(FdDumpContext ctx, FdInfo fd, String what, int sdev, long ino, int type, byte[] handle)
            throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + what;
        String dev = (sdev >>> 20) + ":" + (sdev & 0xfffff);
        List<String> mounts = new ArrayList<>();
        try {
            for (String l : Files.readAllLines(ctx.proc().dir(ctx.pid()).resolve("mountinfo"))) {
                String[] f = l.split(" ");
                if (f.length > 4 && f[2].equals(dev)) {
                    mounts.add(f[4].replace("\\040", " "));
                }
            }
        } catch (IOException e) {
            throw new CryoException(where + ": reading mountinfo failed: " + e.getMessage(), e);
        }
        NativeBuffer fh = NativeBuffer.allocate(8 + handle.length);
        fh.putInt(0, handle.length);
        fh.putInt(4, type);
        fh.put(8, handle);
        String deleted = null;
        for (String mnt : mounts) {
            String root = ctx.proc().dir(ctx.pid()).resolve("root").toString() + mnt;
            // not O_PATH: open_by_handle_at takes its mount from a real open file
            int mfd = (int) Syscall.raw(Syscall.OPENAT, -100, cString(root).address(),
                    O_DIRECTORY | EventObjects.O_CLOEXEC, 0);
            if (mfd < 0) {
                continue;
            }
            try {
                int f = (int) Syscall.raw(OPEN_BY_HANDLE_AT, mfd, fh.address(), O_PATH | EventObjects.O_CLOEXEC);
                if (f < 0) {
                    continue;
                }
                try {
                    String path = DirectFiles.readLink("/proc/self/fd/" + f);
                    if (path.endsWith(" (deleted)")) {
                        deleted = path;
                        continue;
                    }
                    if (path.startsWith("/")) {
                        return path;
                    }
                } catch (IOException ignored) {
                    // try the next mount
                } finally {
                    Syscall.raw(Syscall.CLOSE, f);
                }
            } finally {
                Syscall.raw(Syscall.CLOSE, mfd);
            }
        }
        if (deleted != null) {
            String held = heldDeleted(ctx, sdev, ino);
            if (held != null) {
                return held;
            }
            throw new CryoException(where + " is on the deleted file " + deleted + ", which no fd of the tree holds, "
                    + "so Cryo cannot restore it");
        }
        // No handle decoding (open_by_handle_at needs CAP_DAC_READ_SEARCH, which containers often lack): look for
        // the inode by number near what the process uses, as CRIU's irmap does.
        String found = InodeSearch.find(ctx, sdev, ino);
        if (found != null) {
            return found;
        }
        throw new CryoException(where + ": its inode " + ino + " (device " + dev + ") cannot be found: its file handle "
                + "does not open (CAP_DAC_READ_SEARCH missing?) and it is not under the process's cwd, its open files' "
                + "directories, /etc, /tmp or /var");
    }

    private static NativeBuffer cString(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        NativeBuffer n = NativeBuffer.allocate(b.length + 1);
        n.put(0, b);
        n.buffer().put(b.length, (byte) 0);
        return n;
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        inotify_file_entry e = file.getIfy();
        int got = -1;
        try {
            got = (int) ctx.syscall().call("inotify_init1", INOTIFY_INIT1, e.getFlags() & EventObjects.O_NONBLOCK);
            boolean removed = false;
            List<inotify_wd_entry> wds = new ArrayList<>(e.getWdList());
            wds.sort(Comparator.comparingInt(inotify_wd_entry::getWd));
            for (inotify_wd_entry w : wds) {
                String path = w.getFHandle().getPath();
                long p = ctx.scratch().string(0, path);
                for (int tries = 0; ; tries++) {
                    int wd = (int) ctx.syscall().call("inotify_add_watch(" + path + ")", INOTIFY_ADD_WATCH, got, p,
                            (w.getMask() & 0xffffffffL) | IN_DONT_FOLLOW);
                    if (wd == w.getWd()) {
                        break;
                    }
                    if (wd > w.getWd() || tries > MAX_GAP) {
                        throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (inotify): "
                                + "watch " + w.getWd() + " on " + path + " came back as watch " + wd);
                    }
                    ctx.syscall().call("inotify_rm_watch", INOTIFY_RM_WATCH, got, wd);
                    removed = true;
                }
            }
            if (removed) {
                drain(ctx, got);
            }
            return got;
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "inotify", x);
        }
    }

    /** Reads the IN_IGNORED events that skipping watch numbers queued, through the engine's copy of the fd. */
    private static void drain(FdRestoreContext ctx, int fd) throws SyscallException {
        int pidfd = (int) Syscall.call("pidfd_open(" + ctx.pid() + ")", Syscall.PIDFD_OPEN, ctx.pid(), 0);
        int ours = -1;
        try {
            ours = (int) Syscall.call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, fd, 0);
            NativeBuffer pfd = NativeBuffer.allocate(8);
            NativeBuffer buf = NativeBuffer.allocate(65536);
            while (true) {
                pfd.putInt(0, ours);
                pfd.putInt(4, 1 /* POLLIN */);
                if (Syscall.raw(POLL, pfd.address(), 1, 0) <= 0) {
                    return;
                }
                if (Syscall.raw(Syscall.READ, ours, buf.address(), 65536) <= 0) {
                    return;
                }
            }
        } finally {
            if (ours >= 0) {
                Syscall.raw(Syscall.CLOSE, ours);
            }
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }
}
