package dev.cryo.engine.mem;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;

/** The terminal side of {@link PageProgress}: a bar counted in MiB. */
final class TerminalProgress implements PageProgress {
    private static final long MIB = 1 << 20;
    private final ProgressBar bar;
    private final long totalBytes;
    private long bytes;

    private TerminalProgress(ProgressBar bar, long totalBytes) {
        this.bar = bar;
        this.totalBytes = totalBytes;
    }

    static PageProgress open(String task, long totalBytes, PrintStream out) {
        ProgressBar bar = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax((totalBytes + MIB - 1) / MIB)
                .setUnit(" MiB", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(100)
                .setConsumer(new ConsoleProgressBarConsumer(out))
                .showSpeed()
                .build();
        return new TerminalProgress(bar, totalBytes);
    }

    @Override
    public void advance(long more) {
        bytes += more;
        // whole MiB as they complete; the last, partial one counts once everything is copied
        bar.stepTo(bytes >= totalBytes ? bar.getMax() : bytes / MIB);
    }

    @Override
    public void close() {
        bar.close();
    }
}
