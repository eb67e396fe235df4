package dev.cryo.engine.dump;

import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.resource.RegularFile;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.image.proto.file_entry;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * files.img of a tree dump: one entry per open file description, whichever tasks hold it, and one per file a
 * task uses without an fd (exe, mappings, cwd, root). A description inherited across fork is the same kernel
 * object in both tasks: kcmp(KCMP_FILE) says so, where path, inode and offset could only suggest it. Ids are the
 * entries' numbers, from 1.
 */
final class FileTable {
    static final int KCMP_FILE = 0;

    private final List<file_entry> files = new ArrayList<>();
    private final Map<String, Integer> byKey = new HashMap<>();
    /** fd target (/proc/PID/fd link text) -> the fds dumped with it so far: {pid, fd, id} */
    private final Map<String, List<int[]>> descriptions = new HashMap<>();

    synchronized List<file_entry> entries() {
        return files;
    }

    /** The entry for a path used without an fd, made once per path (or memfd and mode) by {@code make}. */
    synchronized int byKey(String key, IntFunction<file_entry> make) {
        Integer id = byKey.get(key);
        if (id != null) {
            return id;
        }
        int newId = files.size() + 1;
        files.add(make.apply(newId));
        byKey.put(key, newId);
        return newId;
    }

    /**
     * A files.img entry for a path the process uses without an fd (exe, mappings, cwd, root); a deleted one is
     * noted in {@code ctx}'s deleted files (DeletedFiles: its contents kept, or linked back).
     */
    int mapped(String path, Path statPath, dev.cryo.engine.resource.FdDumpContext ctx)
            throws IOException, dev.cryo.engine.CryoException {
        Exception[] failed = new Exception[1];
        int id = byKey(path, newId -> {
            try {
                return RegularFile.mapped(newId, path, statPath, ctx);
            } catch (IOException | dev.cryo.engine.CryoException e) {
                failed[0] = e;
                return null;
            }
        });
        if (failed[0] != null) {
            synchronized (this) {
                files.remove(files.size() - 1);
                byKey.remove(path);
            }
            if (failed[0] instanceof IOException io) {
                throw io;
            }
            throw (dev.cryo.engine.CryoException) failed[0];
        }
        return id;
    }

    /**
     * The id of the description behind {@code fd} of {@code pid} if an fd dumped before (this task's or another's)
     * has it, else null.
     */
    synchronized Integer sameDescription(int pid, FdInfo fd) {
        List<int[]> seen = descriptions.get(fd.target());
        if (seen == null) {
            return null;
        }
        for (int[] other : seen) {
            if (Syscall.raw(Syscall.KCMP, other[0], pid, KCMP_FILE, other[1], fd.fd()) == 0) {
                return other[2];
            }
        }
        return null;
    }

    /** Takes the next id for a description first met at {@code fd} of {@code pid}; {@link #put} fills it. */
    synchronized int reserve(int pid, FdInfo fd) {
        files.add(null);
        int id = files.size();
        noteDescription(pid, fd, id);
        return id;
    }

    synchronized void put(int id, file_entry e) {
        files.set(id - 1, e);
    }

    synchronized void noteDescription(int pid, FdInfo fd, int id) {
        descriptions.computeIfAbsent(fd.target(), t -> new ArrayList<>()).add(new int[]{pid, fd.fd(), id});
    }

    /**
     * A description only a unix socket's queue holds (SCM_RIGHTS sent, then closed by its sender, not received yet),
     * dumped from Cryo's copy {@code cryoFd} as its kind dumps a task's fd: Cryo stands in for the task. Its id, the
     * same for a copy of a description dumped before.
     */
    int inFlight(dev.cryo.engine.resource.FdDumpContext ctx, int cryoFd) throws dev.cryo.engine.CryoException {
        int self = (int) ProcessHandle.current().pid();
        FdInfo fd;
        try {
            fd = ctx.proc().fds(self).stream().filter(f -> f.fd() == cryoFd).findFirst().orElseThrow(
                    () -> new IOException("fd " + cryoFd + " is gone"));
        } catch (IOException e) {
            throw new dev.cryo.engine.CryoException("cannot dump pid " + ctx.pid() + ": a descriptor in flight in a "
                    + "unix socket's queue cannot be read: " + e.getMessage(), e);
        }
        Integer same = sameDescription(self, fd);
        if (same != null) {
            return same;
        }
        dev.cryo.engine.resource.FdKind kind = dev.cryo.engine.resource.FdKinds.of(fd).orElseThrow(
                () -> new dev.cryo.engine.CryoException("cannot dump pid " + ctx.pid() + ": a descriptor in flight in "
                        + "a unix socket's queue is " + dev.cryo.engine.resource.FdKinds.describe(fd)));
        dev.cryo.engine.resource.FdDumpContext cryo = ctx.forTask(self);
        kind.check(cryo, fd);
        int id = reserve(self, fd);
        put(id, kind.dump(cryo, fd, id));
        return id;
    }

    synchronized int nextId() {
        return files.size() + 1;
    }
}
