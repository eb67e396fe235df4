package dev.cryo.bench.macro;

/**
 * One dump and restore of one fixture by one tool. Times from the tool's stats files are in microseconds;
 * wall times are measured by the harness around the tool's process, JVM or binary start included.
 *
 * @param memoryBytes   the fixture's private anonymous memory just before the dump
 * @param dumpError     why the dump failed, or null
 * @param stats         stats-dump as the tool wrote it, or null if it wrote none
 * @param imageBytes    bytes in the images directory, logs excluded
 * @param pagesBytes    bytes of pages-*.img, the memory image alone
 * @param restoreError  why the restore failed (or was not tried), or null
 * @param restoreTimeUs restore_time from stats-restore, or -1
 * @param verdict       the restored fixture's own verdict ("PASS", "FAIL: why"), or null if never asked
 */
public record Measurement(long memoryBytes, long dumpWallNanos, String dumpError, DumpStats stats, long imageBytes,
                          long pagesBytes, long restoreWallNanos, String restoreError, long restoreTimeUs,
                          String verdict) {

    /** The fields of CRIU's dump_stats_entry the report uses. */
    public record DumpStats(long freezingUs, long frozenUs, long memdumpUs, long memwriteUs, long pagesScanned,
                            long pagesWritten) {
    }

    public boolean passed() {
        return dumpError == null && restoreError == null && "PASS".equals(verdict);
    }

    /** What went wrong, in one line, or null. */
    public String problem() {
        if (dumpError != null) {
            return "dump: " + dumpError;
        }
        if (restoreError != null) {
            return "restore: " + restoreError;
        }
        if (verdict == null) {
            return "no verdict";
        }
        return "PASS".equals(verdict) ? null : "verdict: " + verdict;
    }

    public boolean dumped() {
        return dumpError == null;
    }

    public boolean restored() {
        return dumpError == null && restoreError == null;
    }
}
