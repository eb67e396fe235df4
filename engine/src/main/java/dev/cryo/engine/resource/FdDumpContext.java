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
 */
public record FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log, List<ImageEntry> pipesData,
                            DumpedTasks tasks) {
    public FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log) {
        this(pid, proc, options, log, java.util.Collections.synchronizedList(new ArrayList<>()), new DumpedTasks(pid));
    }

    /** The context of another task of the same dump: same pipe data, same tasks. */
    public FdDumpContext forTask(int other) {
        return new FdDumpContext(other, proc, options, log, pipesData, tasks);
    }
}
