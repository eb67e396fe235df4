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
 */
public record FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log, List<ImageEntry> pipesData,
                            DeletedFiles.Dump deleted) {
    public FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log) {
        this(pid, proc, options, log, new ArrayList<>(), new DeletedFiles.Dump());
    }
}
