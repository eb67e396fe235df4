package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;

import java.io.PrintStream;

/**
 * How far a long page copy has come, shown as a progress bar on stderr only when stderr is a terminal and the
 * copy is large enough to be worth watching. Everywhere else (logs, pipes, CI, tests) it is a no-op.
 */
public interface PageProgress extends AutoCloseable {
    /** Copies smaller than this finish before a bar would say anything useful. */
    long MIN_BYTES = Long.getLong("cryo.progress.minBytes", 64L << 20);

    PageProgress NONE = new PageProgress() {
        @Override
        public void advance(long bytes) {
        }

        @Override
        public void close() {
        }
    };

    void advance(long bytes);

    @Override
    void close();

    /** A bar for {@code totalBytes} labelled {@code task}, if stderr is a terminal; otherwise {@link #NONE}. */
    static PageProgress forCopy(String task, long totalBytes) {
        return choose(task, totalBytes, stderrIsTerminal(), System.err);
    }

    /** isatty(2) as libc makes it: TCGETS succeeds on a terminal only. */
    private static boolean stderrIsTerminal() {
        NativeBuffer termios = NativeBuffer.allocate(64);
        boolean terminal = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.IOCTL, 2, 0x5401 /* TCGETS */,
                termios.address()) >= 0;
        java.lang.ref.Reference.reachabilityFence(termios);
        return terminal;
    }

    static PageProgress choose(String task, long totalBytes, boolean terminal, PrintStream out) {
        if (!terminal || totalBytes < MIN_BYTES || Boolean.getBoolean("cryo.progress.off")) {
            return NONE;
        }
        // the progressbar classes load only here, so runs without a terminal never pay for them
        return TerminalProgress.open(task, totalBytes, out);
    }
}
