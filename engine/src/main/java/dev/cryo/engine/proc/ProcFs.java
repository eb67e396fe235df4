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
import java.util.HashSet;
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

    public TaskStatus status(int pid) throws IOException {
        return TaskStatus.parse(text(pid, "status"));
    }

    public String comm(int pid) throws IOException {
        return text(pid, "comm").strip();
    }

    public int oomScoreAdj(int pid) throws IOException {
        return Integer.parseInt(text(pid, "oom_score_adj").strip());
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
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = WHITESPACE.split(line, 6);
            int dash = f[0].indexOf('-');
            String perms = f[1];
            String[] dev = f[3].split(":");
            String path = f.length > 5 ? f[5].strip() : "";
            out.add(new MapsEntry(Long.parseUnsignedLong(f[0].substring(0, dash), 16),
                    Long.parseUnsignedLong(f[0].substring(dash + 1), 16), perms.charAt(0) == 'r',
                    perms.charAt(1) == 'w', perms.charAt(2) == 'x', perms.charAt(3) == 's',
                    Long.parseUnsignedLong(f[2], 16), Integer.parseInt(dev[0], 16), Integer.parseInt(dev[1], 16),
                    Long.parseLong(f[4]), path, path.equals("[stack]") ? Set.of("gd") : Set.of()));
        }
        return out;
    }

    /** /proc/PID/smaps, keeping each VMA's header line and its VmFlags. */
    public List<MapsEntry> maps(int pid) throws IOException {
        List<MapsEntry> out = new ArrayList<>();
        String[] lines = text(pid, "smaps").split("\n");
        long start = 0, end = 0, off = 0, ino = 0;
        String perms = null, path = "";
        int maj = 0, min = 0;
        for (String line : lines) {
            if (line.isEmpty()) {
                continue;
            }
            char c = line.charAt(0);
            boolean header = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            if (header && line.indexOf('-') > 0 && line.indexOf('-') < 17 && line.indexOf(' ') > line.indexOf('-')) {
                String[] f = WHITESPACE.split(line, 6);
                int dash = f[0].indexOf('-');
                start = Long.parseUnsignedLong(f[0].substring(0, dash), 16);
                end = Long.parseUnsignedLong(f[0].substring(dash + 1), 16);
                perms = f[1];
                off = Long.parseUnsignedLong(f[2], 16);
                String[] dev = f[3].split(":");
                maj = Integer.parseInt(dev[0], 16);
                min = Integer.parseInt(dev[1], 16);
                ino = Long.parseLong(f[4]);
                path = f.length > 5 ? f[5].strip() : "";
            } else if (line.startsWith("VmFlags:") && perms != null) {
                Set<String> flags = new HashSet<>(List.of(WHITESPACE.split(line.substring(8).trim())));
                out.add(new MapsEntry(start, end, perms.charAt(0) == 'r', perms.charAt(1) == 'w',
                        perms.charAt(2) == 'x', perms.charAt(3) == 's', off, maj, min, ino, path, Set.copyOf(flags)));
                perms = null;
            }
        }
        return out;
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
