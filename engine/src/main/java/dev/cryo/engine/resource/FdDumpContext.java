package dev.cryo.engine.resource;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.image.ImageEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * What fd kinds see while dumping, and where they put what goes beyond files.img.
 *
 * @param pipesData entries of pipes-data.img (pipe_data_entry + the buffered bytes)
 * @param deleted   the files whose names were unlinked (ghosts and link remaps), written with files.img
 * @param locks     the file locks the fds hold (with --file-locks), for filelocks.img
 * @param fifos     the paths FIFO entries name and their bytes in flight, for files.img and fifo-data.img
 */
public record FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log, List<ImageEntry> pipesData,
                            DeletedFiles.Dump deleted, FileLocks.Dump locks, Fifo.Dump fifos) {
    public FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log) {
        this(pid, proc, options, log, new ArrayList<>(), new DeletedFiles.Dump(), new FileLocks.Dump(),
                new Fifo.Dump());
    }

    /**
     * Writes what the fds gathered beyond files.img (ghost files, link remaps, file locks, FIFOs), adding to {@code files}
     * the entries that brings (a link remap's); once every fd is dumped, while the task is frozen, before files.img.
     */
    public void writeImages(dev.cryo.image.ImageDir dir, List<dev.cryo.image.proto.file_entry> files)
            throws dev.cryo.engine.CryoException {
        deleted.write(dir, files, pid, options.files(), log);
        locks.write(dir, pid);
        fifos.write(dir, files, pid);
    }
}
