package dev.cryo.engine;

import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The work directory ({@code -W}, RPC {@code work_dir_fd}): CRIU writes its statistics ({@code stats-dump},
 * {@code stats-restore}) there, not among the images, and callers read them there: Podman reads and exports
 * {@code stats-dump} from the directory it names as runc's {@code --work-path} (a missing one makes
 * {@code podman container checkpoint --export} log "Can't stat file .../stats-dump"). Cryo writes them with the
 * images (its checksums cover {@code stats-dump}) and copies them here when the work directory is another one.
 */
public final class WorkDir {
    private WorkDir() {
    }

    /** Copies {@code images/name} into {@code work} when {@code work} is another directory; a failure is logged only. */
    public static void copyStats(Path images, Path work, String name, Log log) {
        Path from = images.resolve(name);
        try {
            if (work == null || !Files.exists(from) || Files.isSameFile(images, work)) {
                return;
            }
            Path to = work.resolve(name);
            Path part = work.resolve("." + name + ".part");
            Files.copy(from, part, StandardCopyOption.REPLACE_EXISTING);
            Files.move(part, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot copy %s into the work directory %s: %s", name, work, e.getMessage());
        }
    }
}
