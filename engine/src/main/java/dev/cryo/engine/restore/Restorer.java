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
     * Restores the tree in {@code options.imagesDir()}.
     *
     * @return the exit status for the CLI: 0 when detached; otherwise the restored root's exit status
     */
    public static int restore(RestoreOptions options, Log log) throws CryoException {
        int pid;
        try (var signals = dev.cryo.engine.sys.StopSignals.catchThem();
             ImageDirLock lock = ImageDirLock.take(options.imagesDir()); Tracer tracer = new Tracer()) {
            ImageIntegrity.check(options.imagesDir(), log);
            pid = tracer.call(() -> new RestoreRun(options, log).run());
        }
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
