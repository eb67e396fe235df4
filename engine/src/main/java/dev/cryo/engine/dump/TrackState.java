package dev.cryo.engine.dump;

import dev.cryo.engine.proc.MapsEntry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code cryo-track} in an images directory: which tracker a (pre-)dump armed on which process, what the
 * tracker needs to carry over (its keeper, its hash file), and the VMAs it tracks. The next dump with
 * {@code --prev-images-dir} trusts the tracker only for VMAs listed here and unchanged since; every other page
 * counts as written. Plain text, one {@code key value} per line, {@code vma} lines last.
 *
 * @param tracker   the tracker's name ({@code uffd-wp}, {@code soft-dirty}, {@code content-hash})
 * @param pid       the process
 * @param startTime its start time (/proc/PID/stat field 22): tells a reused pid apart
 * @param extra     what the tracker saved (e.g. {@code keeper}, {@code hashes})
 * @param vmas      the tracked VMAs, as {@link #key} strings
 */
record TrackState(String tracker, int pid, long startTime, Map<String, String> extra, Set<String> vmas) {
    static final String FILE = "cryo-track";
    static final String HEADER = "cryo-track 1";

    /** The state file of one task: the root's is {@code cryo-track}, each other task's {@code cryo-track-PID}. */
    static String file(int pid, boolean root) {
        return root ? FILE : FILE + "-" + pid;
    }

    /** What identifies a VMA across dumps: bounds, protection, sharing and backing. */
    static String key(MapsEntry m) {
        return String.format("%x %x %d %c %x %x:%x %d %s", m.start(), m.end(), m.prot(), m.shared() ? 's' : 'p',
                m.offset(), m.devMajor(), m.devMinor(), m.inode(), m.path());
    }

    void write(Path dir) throws IOException {
        write(dir, FILE);
    }

    void write(Path dir, String name) throws IOException {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        sb.append("tracker ").append(tracker).append('\n');
        sb.append("pid ").append(pid).append('\n');
        sb.append("starttime ").append(startTime).append('\n');
        extra.forEach((k, v) -> sb.append(k).append(' ').append(v).append('\n'));
        vmas.forEach(v -> sb.append("vma ").append(v).append('\n'));
        Path tmp = dir.resolve(name + ".tmp");
        // an image file's mode (0600 unless images are shared): it names the task's memory layout
        dev.cryo.engine.sys.DirectFiles.write(tmp, sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        Files.move(tmp, dir.resolve(name), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** The state in {@code dir}, or null when the dump there armed no tracker. */
    static TrackState read(Path dir) throws IOException {
        return read(dir, FILE);
    }

    /** The state in file {@code name} of {@code dir} (see {@link #file}), or null when there is none. */
    static TrackState read(Path dir, String name) throws IOException {
        Path f = dir.resolve(name);
        if (!Files.exists(f)) {
            return null;
        }
        List<String> lines = Files.readAllLines(f);
        if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
            throw new IOException(f + " is not a track state of this version");
        }
        Map<String, String> kv = new LinkedHashMap<>();
        Set<String> vmas = new LinkedHashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            int sp = line.indexOf(' ');
            if (sp < 0) {
                continue;
            }
            String k = line.substring(0, sp), v = line.substring(sp + 1);
            if (k.equals("vma")) {
                vmas.add(v);
            } else {
                kv.put(k, v);
            }
        }
        try {
            String tracker = kv.remove("tracker");
            int pid = Integer.parseInt(kv.remove("pid"));
            long start = Long.parseLong(kv.remove("starttime"));
            if (tracker == null) {
                throw new IOException(f + " names no tracker");
            }
            return new TrackState(tracker, pid, start, Map.copyOf(kv), vmas);
        } catch (NumberFormatException | NullPointerException e) {
            throw new IOException(f + " lacks pid or starttime");
        }
    }

    /** The VMAs of {@code maps} this state tracks, unchanged. */
    List<MapsEntry> tracked(List<MapsEntry> maps) {
        List<MapsEntry> out = new ArrayList<>();
        for (MapsEntry m : maps) {
            if (vmas.contains(key(m))) {
                out.add(m);
            }
        }
        return out;
    }
}
