package dev.cryo.engine.cli;

import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.stats_entry;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/** {@code --display-stats}: the stats image of the run just done, printed as CRIU prints it. */
final class Stats {
    private Stats() {
    }

    static void print(Path imagesDir, String which, PrintStream out) {
        try {
            ImageDir dir = ImageDir.open(imagesDir);
            if (which.equals("dump")) {
                if (!dir.exists("stats-dump.img")) {
                    return;
                }
                var d = dir.dumpStats().getDump();
                out.println("Displaying dump stats:");
                out.println("Freezing time: " + d.getFreezingTime() + " us");
                out.println("Frozen time: " + d.getFrozenTime() + " us");
                out.println("Memory dump time: " + d.getMemdumpTime() + " us");
                out.println("Memory write time: " + d.getMemwriteTime() + " us");
                out.println("IRMAP resolve time: " + d.getIrmapResolve() + " us");
                out.println("Memory pages scanned: " + d.getPagesScanned() + " (0x" + Long.toHexString(d.getPagesScanned()) + ")");
                out.println("Memory pages skipped from parent: " + d.getPagesSkippedParent()
                        + " (0x" + Long.toHexString(d.getPagesSkippedParent()) + ")");
                out.println("Memory pages written: " + d.getPagesWritten() + " (0x" + Long.toHexString(d.getPagesWritten()) + ")");
                out.println("Lazy memory pages: " + d.getPagesLazy() + " (0x" + Long.toHexString(d.getPagesLazy()) + ")");
            } else {
                if (!dir.exists("stats-restore.img")) {
                    return;
                }
                stats_entry s = dir.restoreStats();
                var r = s.getRestore();
                out.println("Displaying restore stats:");
                out.println("Pages compared: " + r.getPagesCompared() + " (0x" + Long.toHexString(r.getPagesCompared()) + ")");
                out.println("Pages skipped COW: " + r.getPagesSkippedCow() + " (0x" + Long.toHexString(r.getPagesSkippedCow()) + ")");
                out.println("Pages restored: " + r.getPagesRestored() + " (0x" + Long.toHexString(r.getPagesRestored()) + ")");
                out.println("Restore time: " + r.getRestoreTime() + " us");
                out.println("Forking time: " + r.getForkingTime() + " us");
            }
        } catch (IOException | RuntimeException e) {
            out.println("No " + which + " stats to display: " + Main.oneLine(e.getMessage()));
        }
    }
}
