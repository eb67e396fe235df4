package dev.cryo.bench.macro;

/**
 * The derived figures of a row, each with the machine limit it is compared to. Rates are in bytes per second of
 * page content (pages_written x 4096), so a tool that writes fewer pages for the same process looks no faster.
 * A rate needs at least {@link #MIN_RATE_BYTES} of pages: below that it measures fixed costs, not throughput.
 */
public record Figures(double dumpRate, double dumpBound, double memdumpRate, double memwriteRate, double restoreRate,
                      double readv, double writev, double ddWrite) {
    static final double MIN_RATE_BYTES = 16 * 1048576.0;

    public static Figures of(Row row, BenchRun run) {
        double pages = row.pagesWrittenBytes();
        double readv = run.vmCopy().readvBytesPerSec();
        double writev = run.vmCopy().writevBytesPerSec();
        BenchRun.Dir dir = run.dirs().get(row.dir());
        double dd = dir == null ? Double.NaN : dir.write().bytesPerSec();
        boolean measurable = pages >= MIN_RATE_BYTES;
        double restorePages = row.median(Measurement::restored, Measurement::pagesBytes);
        return new Figures(
                measurable ? rate(pages, row.frozenUs()) : Double.NaN,
                1 / (1 / readv + 1 / dd),
                measurable ? rate(pages, row.memdumpUs()) : Double.NaN,
                measurable ? rate(pages, row.memwriteUs()) : Double.NaN,
                restorePages >= MIN_RATE_BYTES ? rate(restorePages, row.restoreTimeUs()) : Double.NaN,
                readv, writev, dd);
    }

    private static double rate(double bytes, double micros) {
        return micros > 0 ? bytes / (micros / 1e6) : Double.NaN;
    }
}
