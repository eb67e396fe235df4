package dev.cryo.engine.restore;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What {@code cryo restore} was asked to do, after parsing.
 *
 * @param imagesDir  -D/--images-dir
 * @param detached   -d/--restore-detached: return once the tree runs; otherwise wait and exit with its status
 * @param shellJob   -j/--shell-job
 * @param tcpClose   --tcp-close
 * @param pidfile    --pidfile, resolved against imagesDir as CRIU does; null when absent
 * @param timeout    --timeout
 */
public record RestoreOptions(
        Path imagesDir,
        boolean detached,
        boolean shellJob,
        boolean tcpClose,
        Path pidfile,
        Duration timeout) {
}
