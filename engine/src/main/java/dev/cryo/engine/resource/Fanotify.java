package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fanotify_file_entry;
import dev.cryo.image.proto.fanotify_inode_mark_entry;
import dev.cryo.image.proto.fanotify_mark_entry;
import dev.cryo.image.proto.fanotify_mount_mark_entry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.mark_type;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * fanotify: the group's init flags and event-file flags, and its marks, as fdinfo shows them and CRIU keeps them
 * ({@code fanotify_file_entry}): an inode mark names its inode by file handle (the path found for it goes beside,
 * as for inotify), a mount mark its mount by id (its mount point goes beside). Restore: fanotify_init with the same
 * flags in the task, then each mark added again, its mask and its ignored mask. Events queued but not read at dump
 * time are lost, as with CRIU. A filesystem mark (FAN_MARK_FILESYSTEM) is refused.
 */
public final class Fanotify implements FdKind {
    static final int FANOTIFY_INIT = 300, FANOTIFY_MARK = 301, AT_FDCWD = -100;
    static final int FAN_MARK_ADD = 0x1, FAN_MARK_DONT_FOLLOW = 0x4, FAN_MARK_MOUNT = 0x10,
            FAN_MARK_IGNORED_MASK = 0x20, FAN_MARK_IGNORED_SURV_MODIFY = 0x40;

    @Override
    public fd_types type() {
        return fd_types.FANOTIFY;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[fanotify]");
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        entry(ctx, fd, 0);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        return file_entry.newBuilder().setType(fd_types.FANOTIFY).setId(id).setFfy(entry(ctx, fd, id)).build();
    }

    static fanotify_file_entry entry(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (fanotify)";
        List<String> lines = EventObjects.fdinfoLines(ctx, fd);
        List<String> group = EventObjects.startingWith(lines, "fanotify flags:");
        if (group.isEmpty()) {
            throw new CryoException(where + ": its fdinfo shows no fanotify flags");
        }
        var e = fanotify_file_entry.newBuilder().setId(id).setFlags(EventObjects.fileFlags(fd))
                .setFown(RegularFile.noOwner())
                .setFaflags((int) Long.parseLong(EventObjects.field(group.get(0), "flags"), 16))
                .setEvflags((int) Long.parseLong(EventObjects.field(group.get(0), "event-flags"), 16));
        for (String line : EventObjects.startingWith(lines, "fanotify ")) {
            if (line.startsWith("fanotify flags:")) {
                continue;
            }
            var m = fanotify_mark_entry.newBuilder().setId(id)
                    .setMflags((int) Long.parseLong(EventObjects.field(line, "mflags"), 16))
                    .setMask((int) Long.parseLong(EventObjects.field(line, "mask"), 16))
                    .setIgnoredMask((int) Long.parseLong(EventObjects.field(line, "ignored_mask"), 16));
            String ino = EventObjects.field(line, "ino"), mnt = EventObjects.field(line, "mnt_id");
            if (ino != null) {
                int sdev = (int) Long.parseLong(EventObjects.field(line, "sdev"), 16);
                long inode = Long.parseLong(ino, 16);
                int bytes = Integer.parseInt(EventObjects.field(line, "fhandle-bytes"), 16);
                int type = Integer.parseInt(EventObjects.field(line, "fhandle-type"), 16);
                byte[] handle = Inotify.hex(EventObjects.field(line, "f_handle"), bytes);
                String path = Inotify.pathOf(ctx, fd, "fanotify) mark on inode " + inode, sdev, inode, type, handle);
                m.setType(mark_type.INODE).setSDev(sdev).setIe(fanotify_inode_mark_entry.newBuilder().setIIno(inode)
                        .setFHandle(Inotify.handleEntry(bytes, type, handle, path)));
            } else if (mnt != null) {
                int mntId = Integer.parseInt(mnt, 16);
                m.setType(mark_type.MOUNT).setSDev(0).setMe(fanotify_mount_mark_entry.newBuilder().setMntId(mntId)
                        .setPath(mountPoint(ctx, where, mntId)));
            } else {
                throw new CryoException(where + " has a mark on a whole filesystem (FAN_MARK_FILESYSTEM: " + line.trim()
                        + "), which Cryo cannot dump yet");
            }
            e.addMark(m);
        }
        return e.build();
    }

    /** Where mount {@code mntId} of the task is mounted, from its mountinfo. */
    private static String mountPoint(FdDumpContext ctx, String where, int mntId) throws CryoException {
        try {
            for (String l : Files.readAllLines(ctx.proc().dir(ctx.pid()).resolve("mountinfo"))) {
                String[] f = l.split(" ");
                if (f.length > 4 && f[0].equals(Integer.toString(mntId))) {
                    return f[4].replace("\\040", " ");
                }
            }
        } catch (IOException e) {
            throw new CryoException(where + ": reading mountinfo failed: " + e.getMessage(), e);
        }
        throw new CryoException(where + " has a mark on mount " + mntId + ", which is not in the task's mountinfo");
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        fanotify_file_entry e = file.getFfy();
        int got = -1;
        try {
            got = (int) ctx.syscall().call("fanotify_init", FANOTIFY_INIT, e.getFaflags() & 0xffffffffL,
                    e.getEvflags() & 0xffffffffL);
            for (fanotify_mark_entry m : e.getMarkList()) {
                boolean mount = m.getType() == mark_type.MOUNT;
                String path = mount ? m.getMe().getPath() : m.getIe().getFHandle().getPath();
                long p = ctx.scratch().string(0, path);
                int flags = FAN_MARK_ADD | (mount ? FAN_MARK_MOUNT : FAN_MARK_DONT_FOLLOW);
                if (m.getMask() != 0) {
                    ctx.syscall().call("fanotify_mark(" + path + ")", FANOTIFY_MARK, got,
                            flags | (m.getMflags() & ~FAN_MARK_IGNORED_SURV_MODIFY), m.getMask() & 0xffffffffL,
                            AT_FDCWD, p);
                }
                if (m.getIgnoredMask() != 0) {
                    ctx.syscall().call("fanotify_mark(" + path + ", ignored)", FANOTIFY_MARK, got,
                            flags | FAN_MARK_IGNORED_MASK | m.getMflags(), m.getIgnoredMask() & 0xffffffffL,
                            AT_FDCWD, p);
                }
            }
            return got;
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "fanotify", x);
        }
    }
}
