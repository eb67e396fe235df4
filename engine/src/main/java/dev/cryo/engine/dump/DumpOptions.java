package dev.cryo.engine.dump;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What {@code cryo dump} and {@code cryo pre-dump} were asked to do, after parsing.
 *
 * @param pid            root of the tree to dump (-t/--tree)
 * @param imagesDir      where images go (-D/--images-dir); also CRIU's work dir for relative -o
 * @param preDump        true for {@code pre-dump}: memory only, the process keeps running
 * @param leaveRunning   -R/--leave-running
 * @param shellJob       -j/--shell-job
 * @param tcpEstablished --tcp-established
 * @param extUnixSk      --ext-unix-sk
 * @param trackMem       --track-mem
 * @param prevImagesDir  --prev-images-dir, resolved against imagesDir as CRIU does; null when absent
 * @param preDumpMode    --pre-dump-mode: "splice" (default) or "read"
 * @param timeout        --timeout: bound on freezing the tree
 */
public record DumpOptions(
        int pid,
        Path imagesDir,
        boolean preDump,
        boolean leaveRunning,
        boolean shellJob,
        boolean tcpEstablished,
        boolean extUnixSk,
        boolean trackMem,
        Path prevImagesDir,
        String preDumpMode,
        Duration timeout) {
}
