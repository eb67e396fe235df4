package dev.cryo.engine.proc;

import dev.cryo.engine.sys.DirectFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Readers of /proc/PID/* into records. Each throws IOException when the process is gone or unreadable. */
public final class ProcFs {
    private final Path root;
    private final String rootText;

    public ProcFs() {
        this(Path.of("/proc"));
    }

    public ProcFs(Path root) {
        this.root = root;
        this.rootText = root.toString();
    }

    /** "/proc/PID/name" as a string: the readers go through {@link DirectFiles}, which takes plain paths. */
    private String file(int pid, String name) {
        return rootText + '/' + pid + '/' + name;
    }

    public Path dir(int pid) {
        return root.resolve(Integer.toString(pid));
    }

    public boolean exists(int pid) {
        return Files.exists(dir(pid));
    }

    private String text(int pid, String name) throws IOException {
        return DirectFiles.readText(file(pid, name));
    }

    public TaskStat stat(int pid) throws IOException {
        return TaskStat.parse(text(pid, "stat"));
    }

    /**
     * Whether {@code pid} descends from a process of {@code ancestors}, up its chain of parents; false once a process
     * of the chain is gone.
     */
    public boolean descendsFrom(int pid, java.util.Set<Integer> ancestors) {
        int p = pid;
        for (int depth = 0; depth < 4096 && p > 1; depth++) {
            try {
                p = stat(p).ppid();
            } catch (IOException | RuntimeException e) {
                return false;
            }
            if (ancestors.contains(p)) {
                return true;
            }
        }
        return false;
    }

    public TaskStatus status(int pid) throws IOException {
        return TaskStatus.parse(text(pid, "status"));
    }

    public String comm(int pid) throws IOException {
        return text(pid, "comm").strip();
    }

    public int oomScoreAdj(int pid) throws IOException {
        return Integer.parseInt(text(pid, "oom_score_adj").strip());
    }

    /** The audit login uid, 4294967295 when unset; -1 where the kernel has no audit (no such file). */
    public long loginuid(int pid) throws IOException {
        try {
            return Long.parseLong(text(pid, "loginuid").strip());
        } catch (java.nio.file.NoSuchFileException e) {
            return -1;
        }
    }

    public int personality(int pid) throws IOException {
        return (int) Long.parseLong(text(pid, "personality").strip(), 16);
    }

    public List<Integer> tasks(int pid) throws IOException {
        List<Integer> out = new ArrayList<>();
        for (int tid : DirectFiles.numericNames(file(pid, "task"))) {
            out.add(tid);
        }
        return out;
    }

    public List<Integer> children(int pid) throws IOException {
        List<Integer> out = new ArrayList<>();
        for (int tid : tasks(pid)) {
            String c;
            try {
                c = text(pid, "task/" + tid + "/children").strip();
            } catch (NoSuchFileException e) {
                continue;
            }
            if (!c.isEmpty()) {
                for (String s : WHITESPACE.split(c)) {
                    out.add(Integer.parseInt(s));
                }
            }
        }
        return out;
    }

    public String link(int pid, String name) throws IOException {
        return DirectFiles.readLink(file(pid, name));
    }

    /**
     * The process's resident anonymous memory, in bytes: /proc/PID/statm's resident pages less its shared ones (file
     * and shmem pages), as status's RssAnon counts it; about what a full dump of its private memory writes.
     */
    public long anonResident(int pid) throws IOException {
        String[] f = text(pid, "statm").trim().split(" ");
        return Math.max(0, Long.parseLong(f[1]) - Long.parseLong(f[2])) * 4096;
    }

    public long[] auxv(int pid) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(DirectFiles.read(file(pid, "auxv"))).order(ByteOrder.nativeOrder());
        long[] out = new long[b.remaining() / 8];
        for (int i = 0; i < out.length; i++) {
            out[i] = b.getLong();
        }
        return out;
    }

    /**
     * /proc/PID/maps: fast (smaps walks every page table). VmFlags are not there: a [stack] VMA is taken as
     * growing down, as the kernel makes it.
     */
    public List<MapsEntry> fastMaps(int pid) throws IOException {
        return parseMaps(mapsText(pid));
    }

    /** The bytes of /proc/PID/maps, to compare a read made before a freeze with one made after it. */
    public String mapsText(int pid) throws IOException {
        return text(pid, "maps");
    }

    /** Parses the text of /proc/PID/maps (see {@link #fastMaps}). */
    /**
     * Compiled once: String.split with a regex compiles it on every call, and a tree's maps and smaps are thousands
     * of lines parsed by code that is still interpreted.
     */
    private static final java.util.regex.Pattern WHITESPACE = java.util.regex.Pattern.compile("\\s+");

    public static List<MapsEntry> parseMaps(String text) {
        List<MapsEntry> out = new ArrayList<>();
        int at = 0, n = text.length();
        while (at < n) {
            int eol = text.indexOf('\n', at);
            if (eol < 0) {
                eol = n;
            }
            if (eol > at) {
                out.add(header(text, at, eol, null));
            }
            at = eol + 1;
        }
        return out;
    }

    /**
     * /proc/PID/smaps, keeping each VMA's header line and its VmFlags. Each VMA's block is its header, lines of
     * counts, and VmFlags last: the parse goes from a header to the next "VmFlags:" and the line after it, never
     * looking at the counts (a tree's smaps are thousands of such lines, parsed by code still interpreted). A kernel
     * without VmFlags gives no entry.
     */
    public List<MapsEntry> maps(int pid) throws IOException {
        return parseSmaps(text(pid, "smaps"));
    }

    static List<MapsEntry> parseSmaps(String text) {
        List<MapsEntry> out = new ArrayList<>();
        int at = 0, n = text.length();
        while (at < n) {
            int eol = text.indexOf('\n', at);
            if (eol < 0) {
                break; // a header and no VmFlags: a truncated read
            }
            int flags = text.indexOf("\nVmFlags:", eol);
            if (flags < 0) {
                break;
            }
            int from = flags + "\nVmFlags:".length();
            int end = text.indexOf('\n', from);
            if (end < 0) {
                end = n;
            }
            out.add(header(text, at, eol, vmFlags(text, from, end)));
            at = end + 1;
        }
        return out;
    }

    /** The two-letter flags of a VmFlags line's rest, text[from, to). */
    private static Set<String> vmFlags(String text, int from, int to) {
        List<String> flags = new ArrayList<>(16);
        int i = from;
        while (i < to) {
            while (i < to && text.charAt(i) == ' ') {
                i++;
            }
            int j = i;
            while (j < to && text.charAt(j) != ' ') {
                j++;
            }
            if (j > i) {
                flags.add(text.substring(i, j));
            }
            i = j;
        }
        return Set.copyOf(flags);
    }

    /**
     * A maps (or smaps header) line, text[from, to): "start-end perms offset major:minor inode" then, after spaces,
     * the path to the line's end (stripped, as shown: a name the kernel escapes has no newline). {@code flags} null:
     * maps has none ({@link #fastMaps}).
     */
    private static MapsEntry header(String text, int from, int to, Set<String> flags) {
        int dash = text.indexOf('-', from);
        int sp1 = text.indexOf(' ', dash);
        int sp2 = text.indexOf(' ', sp1 + 1);
        int sp3 = text.indexOf(' ', sp2 + 1);
        int colon = text.indexOf(':', sp3);
        int sp4 = text.indexOf(' ', colon);
        int sp5 = text.indexOf(' ', sp4 + 1);
        if (dash < 0 || sp5 < 0 || sp5 > to) {
            sp5 = to; // no path (and maybe no space after the inode)
        }
        long start = Long.parseUnsignedLong(text, from, dash, 16);
        long end = Long.parseUnsignedLong(text, dash + 1, sp1, 16);
        char r = text.charAt(sp1 + 1), w = text.charAt(sp1 + 2), x = text.charAt(sp1 + 3), p = text.charAt(sp1 + 4);
        long offset = Long.parseUnsignedLong(text, sp2 + 1, sp3, 16);
        int major = Integer.parseInt(text, sp3 + 1, colon, 16);
        int minor = Integer.parseInt(text, colon + 1, sp4, 16);
        long inode = Long.parseLong(text, sp4 + 1, Math.min(sp5, to), 10);
        String path = sp5 < to ? text.substring(sp5, to).strip() : "";
        Set<String> vm = flags != null ? flags : path.equals("[stack]") ? Set.of("gd") : Set.of();
        return new MapsEntry(start, end, r == 'r', w == 'w', x == 'x', p == 's', offset, major, minor, inode, path, vm);
    }

    /** Open fds with their links and fdinfo, in fd order. */
    private boolean isFifo(int pid, int fd) {
        try {
            return (DirectFiles.stat(dir(pid) + "/fd/" + fd).mode() & 0170000) == 0010000;
        } catch (IOException e) {
            return false; // closed meanwhile
        }
    }

    public List<FdInfo> fds(int pid) throws IOException {
        int[] nums = DirectFiles.numericNames(file(pid, "fd"));
        List<FdInfo> out = new ArrayList<>();
        for (int fd : nums) {
            String target;
            String info;
            try {
                target = link(pid, "fd/" + fd);
                info = text(pid, "fdinfo/" + fd);
            } catch (NoSuchFileException e) {
                continue; // closed meanwhile
            }
            Map<String, String> m = new HashMap<>();
            for (String line : info.split("\n")) {
                int c = line.indexOf(':');
                if (c > 0 && !m.containsKey(line.substring(0, c))) {
                    m.put(line.substring(0, c), line.substring(c + 1).trim());
                }
            }
            if (target.startsWith("socket:[")) {
                m.put("sockproto", dev.cryo.engine.net.SocketProtocol.of(dir(pid).resolve("fd/" + fd)));
            }
            if (target.startsWith("/") && !target.startsWith("/dev/") && isFifo(pid, fd)) {
                m.put(FdInfo.FIFO, "1"); // a named pipe: fdinfo does not say, its mode does
            }
            out.add(new FdInfo(fd, target, Long.parseLong(m.getOrDefault("pos", "0")),
                    Integer.parseInt(m.getOrDefault("flags", "0"), 8), Integer.parseInt(m.getOrDefault("mnt_id", "0")),
                    Long.parseLong(m.getOrDefault("ino", "0")), Map.copyOf(m)));
        }
        return out;
    }
}
