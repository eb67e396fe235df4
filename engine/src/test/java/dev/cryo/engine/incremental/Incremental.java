package dev.cryo.engine.incremental;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.dump_stats_entry;

import java.io.IOException;
import java.nio.file.Path;

/** Incremental dumps the way the CLI asks for them. */
final class Incremental {
    private Incremental() {
    }

    /** {@code pre-dump [--prev-images-dir ../PREV]}. */
    static void preDump(int pid, Path dir, Path prev) throws CryoException, IOException {
        Checkpoint.dump(new DumpOptions(pid, dir, true, false, true, true, false, false, relative(dir, prev), "splice", null));
    }

    /** {@code dump [--track-mem] [-R] [--prev-images-dir ../PREV]}. */
    static void dump(int pid, Path dir, Path prev, boolean trackMem, boolean leaveRunning) throws CryoException, IOException {
        Checkpoint.dump(new DumpOptions(pid, dir, false, leaveRunning, true, true, false, trackMem, relative(dir, prev),
                "splice", null));
    }

    /** As the CLI resolves it: relative to -D. */
    private static Path relative(Path dir, Path prev) {
        return prev == null ? null : dir.resolve("..").resolve(prev.getFileName()).normalize();
    }

    static dump_stats_entry stats(Path dir) throws IOException {
        return ImageDir.open(dir).dumpStats().getDump();
    }
}
