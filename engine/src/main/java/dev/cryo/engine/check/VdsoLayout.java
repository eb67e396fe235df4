package dev.cryo.engine.check;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel's special mappings ({@code [vvar]}, {@code [vvar_vclock]}, {@code [vdso]}) as
 * {@code /proc/PID/maps} shows them. Restore moves them to the image's address as one block with a single
 * {@code mremap}, which works when they are adjacent.
 */
public record VdsoLayout(List<Segment> segments) {
    private static final long PAGE = 4096;

    /** One special mapping: its name as maps shows it, and its bounds. */
    public record Segment(String name, long start, long end) {
        public long pages() {
            return (end - start) / PAGE;
        }
    }

    public static VdsoLayout ofSelf() throws IOException {
        return parse(Files.readString(Path.of("/proc/self/maps")));
    }

    /** Picks the vDSO-related lines out of a maps file, in address order. */
    public static VdsoLayout parse(String maps) {
        List<Segment> found = new ArrayList<>();
        for (String line : maps.split("\n")) {
            String trimmed = line.strip();
            if (!(trimmed.endsWith("[vvar]") || trimmed.endsWith("[vvar_vclock]") || trimmed.endsWith("[vdso]"))) {
                continue;
            }
            int dash = trimmed.indexOf('-'), space = trimmed.indexOf(' ');
            if (dash < 0 || space < dash) {
                continue;
            }
            long start = Long.parseUnsignedLong(trimmed.substring(0, dash), 16);
            long end = Long.parseUnsignedLong(trimmed.substring(dash + 1, space), 16);
            found.add(new Segment(trimmed.substring(trimmed.lastIndexOf('[')), start, end));
        }
        found.sort((a, b) -> Long.compareUnsigned(a.start(), b.start()));
        return new VdsoLayout(List.copyOf(found));
    }

    public boolean hasVdso() {
        return segments.stream().anyMatch(s -> s.name().equals("[vdso]"));
    }

    /** True when the mappings touch each other, so one mremap moves them all. */
    public boolean contiguous() {
        for (int i = 1; i < segments.size(); i++) {
            if (segments.get(i - 1).end() != segments.get(i).start()) {
                return false;
            }
        }
        return true;
    }

    /** The layout the engine knows how to move: a [vdso] with its data pages, all adjacent. */
    public boolean movable() {
        return hasVdso() && contiguous();
    }

    /** "[vvar] 4 pages, [vvar_vclock] 2 pages, [vdso] 2 pages, adjacent". */
    public String describe() {
        if (segments.isEmpty()) {
            return "no [vdso] or [vvar] in /proc/self/maps";
        }
        StringBuilder b = new StringBuilder();
        for (Segment s : segments) {
            if (b.length() > 0) {
                b.append(", ");
            }
            b.append(s.name()).append(' ').append(s.pages()).append(s.pages() == 1 ? " page" : " pages");
        }
        if (segments.size() > 1) {
            b.append(contiguous() ? ", adjacent" : ", not adjacent");
        }
        return b.toString();
    }
}
