package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.fifo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pipe_data_entry;
import dev.cryo.image.proto.reg_file_entry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Named pipes (FIFOs) the process holds, read end, write end or both, and nobody else. As CRIU writes them: a FIFO
 * entry of files.img whose {@code regf_id} names a REG entry with the path and open flags, and whose {@code pipe_id}
 * is the FIFO's inode; the bytes in flight go to {@code fifo-data.img} (pipe_data_entry + bytes), copied with tee()
 * so nothing is consumed. Restore opens the path with O_RDWR first (so that no open waits for a partner), refills
 * the pipe through it once, opens each fd with its own flags (non-blocking, then set as it was) and closes the
 * helper again.
 */
public final class Fifo implements FdKind {
    public static final String DATA_IMAGE = "fifo-data.img";
    static final int O_NONBLOCK = 04000, F_SETFL = 4;
    /** files.img ids of the REG entries FIFOs name: far above the ids the dump gives fds and mappings */
    static final int REGF_IDS = 0x40000000;

    @Override
    public fd_types type() {
        return fd_types.FIFO;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isFifo() && (fd.flags() & RegularFile.O_PATH) == 0;
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        // the tree's own tasks share it as they share a pipe; a process outside the tree would lose its other end
        int other = Pipe.holderOutside(ctx.tasks().pids(), fd.target());
        if (other > 0) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the FIFO " + fd.target()
                    + ", which process " + other + " outside the dumped tree holds too; FIFOs shared with processes "
                    + "outside the tree are not supported yet");
        }
        FileLocks.check(ctx, fd);
        if (DeletedFiles.isDeleted(fd.target())) {
            // unlinked while open (mkfifo, open, rm: a shell's private pipe): made again for the restore, as a ghost
            DeletedFiles.check(ctx.pid(), "fd " + fd.fd(), fd.target(), ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd(),
                    ctx.options().files(), ctx.deleted());
        }
    }

    /** What the dump keeps besides files.img entries: the REG entries FIFOs name and their bytes in flight. */
    public static final class Dump {
        private final List<file_entry> regs = new ArrayList<>();
        private final List<ImageEntry> data = new ArrayList<>();
        private final Set<Long> saved = new HashSet<>();

        /** Puts {@code owner} in the REG entry {@code regId} of a FIFO dumped before (its owner lives there). */
        void setOwner(int regId, dev.cryo.image.proto.fown_entry owner) {
            regs.replaceAll(e -> e.getId() == regId ? FileOwner.withOwner(e, owner) : e);
        }

        void write(ImageDir dir, List<file_entry> files, int pid) throws CryoException {
            files.addAll(regs);
            regs.clear();
            if (data.isEmpty()) {
                return;
            }
            try {
                dir.write(DATA_IMAGE, ImageFile.ofRecords("FIFO_DATA", data));
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + pid + ": writing " + DATA_IMAGE + " failed: " + e.getMessage(), e);
            }
        }
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        Dump fifos = ctx.fifos();
        int regId = REGF_IDS + id;
        String name = ctx.deleted().note(ctx.pid(), regId, fd.target(), ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd(),
                ctx.options().files());
        var reg = reg_file_entry.newBuilder().setId(regId).setFlags(fd.flags() & ~RegularFile.O_CLOEXEC).setPos(0)
                .setFown(RegularFile.noOwner()).setName(name).setMode(RegularFile.S_IFIFO | 0600);
        try {
            reg.setMode(DirectFiles.stat(ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd()).mode());
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (FIFO " + fd.target()
                    + "): stat failed: " + e.getMessage(), e);
        }
        fifos.regs.add(file_entry.newBuilder().setType(fd_types.REG).setId(regId).setReg(reg).build());
        ctx.locks().collect(ctx, fd);
        int pipeId = (int) fd.ino();
        if (fifos.saved.add(fd.ino())) {
            fifos.data.add(contents(ctx, fd, pipeId));
        }
        return file_entry.newBuilder().setType(fd_types.FIFO).setId(id).setFifo(fifo_entry.newBuilder().setId(id)
                .setPipeId(pipeId).setRegfId(regId)).build();
    }

    /** The FIFO's bytes in flight, copied without consuming them, through a readable end. */
    private static ImageEntry contents(FdDumpContext ctx, FdInfo fd, int pipeId) throws CryoException {
        if ((fd.flags() & RegularFile.O_ACCMODE) != RegularFile.O_WRONLY) {
            return Pipe.contents(ctx.pid(), fd.fd(), pipeId);
        }
        try {
            for (FdInfo other : ctx.proc().fds(ctx.pid())) {
                if (other.ino() == fd.ino() && other.target().equals(fd.target())
                        && (other.flags() & RegularFile.O_ACCMODE) != RegularFile.O_WRONLY) {
                    return Pipe.contents(ctx.pid(), other.fd(), pipeId);
                }
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": FIFO " + fd.target() + ": cannot read its fds: "
                    + e.getMessage(), e);
        }
        // only written to here: with no reader anywhere, nothing can be in flight for anyone
        return new ImageEntry(pipe_data_entry.newBuilder().setPipeId(pipeId).setBytes(0).build(), new byte[0]);
    }

    // ---- restore

    private static final String FILES = "fifo: files", DATA = "fifo: data", HELPERS = "fifo: helpers";

    /** Gives the restore of this task what FIFO fds need: the REG entries they name and fifo-data.img. */
    public static void prepare(FdRestoreContext ctx, List<file_entry> files, ImageDir dir) throws CryoException {
        Map<Integer, file_entry> regs = new HashMap<>();
        for (file_entry f : files) {
            if (f.hasReg()) {
                regs.put(f.getId(), f);
            }
        }
        ctx.state().put(FILES, regs);
        Map<Integer, byte[]> data = new HashMap<>();
        if (dir.exists(DATA_IMAGE)) {
            try {
                for (ImageEntry e : dir.read(DATA_IMAGE).records()) {
                    data.put(((pipe_data_entry) e.message()).getPipeId(), e.payload());
                }
            } catch (IOException e) {
                throw new CryoException("cannot restore pid " + ctx.pid() + ": cannot read " + DATA_IMAGE + ": "
                        + e.getMessage(), e);
            }
        }
        ctx.state().put(DATA, data);
    }

    @Override
    @SuppressWarnings("unchecked")
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        fifo_entry f = file.getFifo();
        Map<Integer, file_entry> regs = (Map<Integer, file_entry>) ctx.state().get(FILES);
        file_entry regEntry = regs == null ? null : regs.get(f.getRegfId());
        if (regEntry == null) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " is a FIFO whose path "
                    + "(files.img entry " + f.getRegfId() + ") is not in the images");
        }
        reg_file_entry reg = regEntry.getReg();
        String what = "cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (FIFO " + reg.getName() + ")";
        try {
            if ((DirectFiles.stat(reg.getName()).mode() & RegularFile.S_IFMT) != RegularFile.S_IFIFO) {
                throw new CryoException(what + ": " + reg.getName() + " is no FIFO now");
            }
        } catch (IOException e) {
            throw new CryoException(what + ": it is missing (" + e.getMessage() + ")");
        }
        try {
            Map<Integer, Integer> helpers = (Map<Integer, Integer>) ctx.state().computeIfAbsent(HELPERS, k -> new HashMap<>());
            if (!helpers.containsKey(f.getPipeId())) {
                // both ends at once: no open below waits for a partner, and the bytes have a way in
                int opened = ctx.open(reg.getName(), RegularFile.O_RDWR | O_NONBLOCK | RegularFile.O_CLOEXEC, 0);
                // parked above every fd the task will have, so that no dup3 onto a restored number closes it
                int helper = (int) ctx.syscall().call("fcntl(F_DUPFD)", Syscall.FCNTL, opened, Pipe.F_DUPFD,
                        (Integer) ctx.state().getOrDefault(Pipe.MAX_FD, 64) + 1 + ctx.state().size());
                ctx.syscall().call("close", Syscall.CLOSE, opened);
                helpers.put(f.getPipeId(), helper);
                Pipe.refill(ctx.pid(), helper, ((Map<Integer, byte[]>) ctx.state().getOrDefault(DATA, Map.of())).get(f.getPipeId()));
                ctx.afterFds(() -> ctx.syscall().call("close(FIFO helper)", Syscall.CLOSE, helper));
            }
            // O_ASYNC is FileOwner's to set once the fd has its number (given at open, it would send no signal)
            int flags = reg.getFlags() & ~(RegularFile.O_CREAT | RegularFile.O_EXCL | RegularFile.O_TRUNC
                    | RegularFile.O_CLOEXEC | FileOwner.O_ASYNC);
            int got = ctx.open(reg.getName(), flags | O_NONBLOCK | RegularFile.O_NOCTTY, 0);
            if ((flags & O_NONBLOCK) == 0) {
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, F_SETFL, flags & ~O_NONBLOCK);
            }
            return got;
        } catch (SyscallException e) {
            throw new CryoException(what + ": " + e.getMessage(), e);
        }
    }
}
