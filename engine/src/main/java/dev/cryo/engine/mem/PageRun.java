package dev.cryo.engine.mem;

/** Consecutive pages of one VMA that an image holds. */
public record PageRun(long address, int pages) {
    public long end() {
        return address + ((long) pages << 12);
    }

    public long bytes() {
        return (long) pages << 12;
    }
}
