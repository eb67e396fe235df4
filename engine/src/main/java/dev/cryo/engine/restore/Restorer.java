package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.ptrace.WaitStatus;
import dev.cryo.engine.sys.SyscallException;

/** Entry point of {@code cryo restore}. */
public final class Restorer {
    private Restorer() {
    }

    /**
     * Restores the tree and returns once it runs, stopping at each of CRIU's action points for {@code scripts}.
     * The restored root is Cryo's child until Cryo exits, then its reaper's (the caller's, when it is a subreaper).
     *
     * @return the restored root's pid
     */
    public static int restoreTree(RestoreOptions options, Log log, dev.cryo.engine.ActionScripts scripts)
            throws CryoException {
        try (var signals = dev.cryo.engine.sys.StopSignals.catchThem();
             ImageDirLock lock = ImageDirLock.take(options.imagesDir()); Tracer tracer = new Tracer()) {
            // before anything is touched; the pages images meanwhile, done before any task runs
            ImageIntegrity.Pages pages = ImageIntegrity.check(options.imagesDir(), log);
            try {
                // the cores and mms parsed once, for this check and for the build
                dev.cryo.image.ImageDir images = remembering(options.imagesDir());
                if (images != null) {
                    HostCompatibility.check(images, log); // images from another machine: refused here too
                }
                return tracer.call(() -> new RestoreRun(options, log).withScripts(scripts).withPagesCheck(pages)
                        .withImages(images).run());
            } finally {
                pages.failure(); // over before the images' lock goes: nothing reads them after the restore
            }
        }
    }

    private static dev.cryo.image.ImageDir remembering(java.nio.file.Path dir) {
        try {
            return dev.cryo.image.ImageDir.open(dir).remembering();
        } catch (java.io.IOException e) {
            return null; // the restore names what is wrong with it
        }
    }

    /**
     * Restores the tree in {@code options.imagesDir()}.
     *
     * @return the exit status for the CLI: 0 when detached; otherwise the restored root's exit status
     */
    public static int restore(RestoreOptions options, Log log) throws CryoException {
        return restore(options, log, dev.cryo.engine.ActionScripts.NONE);
    }

    /** As {@link #restore(RestoreOptions, Log)}, stopping at CRIU's action points for {@code scripts}. */
    public static int restore(RestoreOptions options, Log log, dev.cryo.engine.ActionScripts scripts)
            throws CryoException {
        int pid = restoreTree(options, log, scripts);
        if (options.detached()) {
            return 0;
        }
        try {
            // the restored process is our child (CLONE_PARENT): wait for it like a shell would
            while (true) {
                WaitStatus st = Ptrace.waitFor(pid);
                if (!st.stopped()) {
                    log.info("pid %d %s", pid, st);
                    return st.shellStatus();
                }
            }
        } catch (SyscallException e) {
            throw new CryoException("restored pid " + pid + " could not be waited for: " + e.getMessage(), e);
        }
    }
}
