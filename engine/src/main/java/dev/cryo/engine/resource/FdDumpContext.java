package dev.cryo.engine.resource;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.image.ImageEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * What fd kinds see while dumping one task of a tree, and where they put what goes beyond files.img.
 *
 * @param pipesData entries of pipes-data.img (pipe_data_entry + the buffered bytes), one list for the whole tree
 * @param tasks     the processes of the dump: a pipe or socket whose other end one of them holds is inside it
 * @param deleted   the files whose names were unlinked (ghosts and link remaps), one for the whole tree
 * @param locks     the file locks the fds hold (with --file-locks), for filelocks.img, one for the whole tree
 * @param fifos     the paths FIFO entries name and their bytes in flight, for files.img and fifo-data.img
 * @param ttys      the terminals' tty-info entries and the paths their TTY entries name, one for the whole tree
 * @param checked   the fds (task, number, flags, what they name) their kind checked before the freeze
 * @param dir       the dump's image directory once it is made: what fd kinds write beyond files.img goes through
 *                  it, so that it joins the checksums' manifest and a failed dump removes it
 */
public record FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log, List<ImageEntry> pipesData,
                            DumpedTasks tasks, DeletedFiles.Dump deleted, FileLocks.Dump locks, Fifo.Dump fifos,
                            Tty.Dump ttys, java.util.Set<String> checked,
                            java.util.concurrent.atomic.AtomicReference<dev.cryo.image.ImageDir> dir) {
    public FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log) {
        this(pid, proc, options, log, java.util.Collections.synchronizedList(new ArrayList<>()), new DumpedTasks(pid),
                new DeletedFiles.Dump(), new FileLocks.Dump(), new Fifo.Dump(), new Tty.Dump(),
                java.util.concurrent.ConcurrentHashMap.newKeySet(), new java.util.concurrent.atomic.AtomicReference<>());
    }

    /** The dump's image directory ({@link #dir}); a context made outside a dump opens the options' directory. */
    public dev.cryo.image.ImageDir images() throws java.io.IOException {
        dev.cryo.image.ImageDir d = dir.get();
        return d != null ? d : dev.cryo.image.ImageDir.open(options.imagesDir());
    }

    /** The context of another task of the same dump: same pipe data, same tasks, same deleted files, locks, FIFOs. */
    public FdDumpContext forTask(int other) {
        return new FdDumpContext(other, proc, options, log, pipesData, tasks, deleted, locks, fifos, ttys, checked, dir);
    }

    /**
     * Notes that {@code fd} of this task passed its kind's checks before the freeze, while the tree still ran: the
     * frozen dump need not check it again if it still is the same fd ({@link #checkedBeforeFreeze}).
     */
    public void passedCheck(dev.cryo.engine.proc.FdInfo fd) {
        checked.add(checkKey(fd));
    }

    /** Whether {@code fd}, as the frozen dump reads it, is one the checks before the freeze saw and passed. */
    public boolean checkedBeforeFreeze(dev.cryo.engine.proc.FdInfo fd) {
        return checked.contains(checkKey(fd));
    }

    private String checkKey(dev.cryo.engine.proc.FdInfo fd) {
        return pid + " " + fd.fd() + " " + fd.flags() + " " + fd.target();
    }

    /**
     * Writes what the fds of every task gathered beyond files.img (ghost files, link remaps, file locks, FIFOs),
     * adding to {@code files} the entries that brings; once every fd is dumped, while the tree is frozen, before
     * files.img.
     */
    public void writeImages(dev.cryo.image.ImageDir dir, List<dev.cryo.image.proto.file_entry> files)
            throws dev.cryo.engine.CryoException {
        fifos.write(dir, files, pid); // first: a deleted FIFO's REG entry must be in files for its ghost
        deleted.write(dir, files, pid, options.files(), log);
        locks.write(dir, pid);
        ttys.write(dir, files, pid);
    }
}
