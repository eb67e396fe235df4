package dev.cryo.engine.proc;

/**
 * The fields of /proc/PID/stat the engine uses (mm layout, tree position, state). {@code exitCode} is field 52, the
 * wait status a zombie's parent would read.
 */
public record TaskStat(int pid, String comm, char state, int ppid, int pgid, int sid, int numThreads, int flags,
                       long startCode, long endCode, long startStack, long startData, long endData, long startBrk,
                       long argStart, long argEnd, long envStart, long envEnd, int exitSignal,
                       int exitCode) {
    public static final int PF_KTHREAD = 0x00200000;

    public boolean kernelThread() {
        return (flags & PF_KTHREAD) != 0;
    }

    static TaskStat parse(String text) {
        int open = text.indexOf('(');
        int close = text.lastIndexOf(')');
        int pid = Integer.parseInt(text.substring(0, open).trim());
        String comm = text.substring(open + 1, close);
        String[] f = text.substring(close + 2).trim().split(" ");
        // f[0] is field 3 (state); field n is f[n - 3]
        return new TaskStat(pid, comm, f[0].charAt(0), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                Integer.parseInt(f[3]), Integer.parseInt(f[17]), (int) Long.parseLong(f[6]),
                Long.parseUnsignedLong(f[23]), Long.parseUnsignedLong(f[24]), Long.parseUnsignedLong(f[25]),
                Long.parseUnsignedLong(f[42]), Long.parseUnsignedLong(f[43]), Long.parseUnsignedLong(f[44]),
                Long.parseUnsignedLong(f[45]), Long.parseUnsignedLong(f[46]), Long.parseUnsignedLong(f[47]),
                Long.parseUnsignedLong(f[48]), Integer.parseInt(f[35]), f.length > 49 ? Integer.parseInt(f[49]) : 0);
    }
}
