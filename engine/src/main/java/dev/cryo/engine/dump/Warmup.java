package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.HelperProcess;
import dev.cryo.engine.sys.Syscall;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Pays the JVM's one-time costs (class loading, JNR stub generation, protobuf descriptors) before the target is
 * frozen: a rehearsal dumps a helper process of Cryo's own through the same code, into a throwaway directory.
 * The target's frozen time is then the real work only.
 */
public final class Warmup {
    /** {@code -Dcryo.warmup=false} skips the rehearsal (to measure what it buys). */
    static final boolean ENABLED = !"false".equals(System.getProperty("cryo.warmup"));

    private Warmup() {
    }

    /**
     * For {@code cryo __train}: one rehearsal on a tracer thread, so that the class-data archive holds every class
     * a dump loads (protobuf, JNR, NIO), not only Cryo's own. Quietly does nothing where Cryo cannot trace.
     */
    public static void train() {
        try (dev.cryo.engine.ptrace.Tracer tracer = new dev.cryo.engine.ptrace.Tracer()) {
            tracer.call(() -> {
                rehearse(Log.discard());
                return null;
            });
        } catch (Exception | LinkageError e) {
            // training is best effort: an archive without these classes only starts slower
        }
    }

    static void rehearse(Log log) {
        if (!ENABLED) {
            return;
        }
        Path dir = null;
        int helper = -1;
        try {
            dir = Files.createTempDirectory("cryo-rehearsal");
            helper = HelperProcess.spawn();
            DumpOptions o = new DumpOptions(helper, dir, false, false, false, false, false, false, null, null, null);
            new DumpRun(o, Log.discard(), true).run();
            helper = -1;
        } catch (CryoException | IOException | RuntimeException | dev.cryo.engine.sys.SyscallException e) {
            log.debug("rehearsal dump failed (only the frozen time suffers): %s", e.getMessage());
        } finally {
            if (helper > 0) {
                Syscall.raw(Syscall.KILL, helper, 9);
                Syscall.raw(Syscall.WAIT4, helper, 0, 0x40000000, 0);
            }
            if (dir != null) {
                try (Stream<Path> s = Files.walk(dir)) {
                    s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException ignored) {
                    // a temp dir left behind is harmless
                }
            }
        }
    }
}
