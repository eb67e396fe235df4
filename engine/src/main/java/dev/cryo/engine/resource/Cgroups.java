package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.cg_controller_entry;
import dev.cryo.image.proto.cg_member_entry;
import dev.cryo.image.proto.cg_set_entry;
import dev.cryo.image.proto.cgroup_dir_entry;
import dev.cryo.image.proto.cgroup_entry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The cgroups each task is in, as CRIU keeps them ({@code cgroup.img}, {@code task_core_entry.cg_set}), and the task
 * put back into them on restore, as CRIU's {@code --manage-cgroups} modes say.
 *
 * <p>Dump: a task's cgroups are the lines of {@code /proc/PID/cgroup} (hierarchy, controllers, path), one set per
 * distinct list; set 1 is Cryo's own ({@code inventory.root_cg_set}). The controllers' entries name each hierarchy
 * and the directories the sets use (without properties: Cryo dumps none).
 *
 * <p>Restore: each task, as soon as it is made and before its memory is filled (so its memory is charged where it
 * was), is written into {@code cgroup.procs} of its cgroup in every hierarchy where it was not in Cryo's own at the
 * dump (as CRIU: a task that shared the dumper's cgroup shares the restorer's). {@code --cgroup-root [CTRL:]PATH}
 * (runc's {@code cg_root}) moves the root task's cgroup, and all below it, to PATH. Modes: {@code soft} (the default),
 * {@code full} and {@code strict} make a missing cgroup (removed again if the restore fails); {@code none} and
 * {@code props} need it to exist; {@code ignore} leaves every task in Cryo's cgroups. No cgroup properties are dumped
 * or set (so full and strict act as soft). A cgroup Cryo cannot reach or join is logged, and the task stays in
 * Cryo's.
 */
public final class Cgroups {
    public static final String IMAGE = "cgroup.img";
    /** The set of the dumper itself (CRIU's root_cg_set). */
    public static final int ROOT_SET = 1;

    private Cgroups() {
    }

    /** One line of /proc/PID/cgroup: the hierarchy's controllers ("cpu,cpuacct", "name=systemd", "" for v2), the path. */
    record Member(String name, String path) {
    }

    /** /proc/PID/cgroup's lines as members, in the file's order. */
    static List<Member> read(Path file) throws IOException {
        List<Member> out = new ArrayList<>();
        String text;
        try (java.io.InputStream in = Files.newInputStream(file)) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        for (String line : text.split("\n")) {
            int a = line.indexOf(':'), b = a < 0 ? -1 : line.indexOf(':', a + 1);
            if (b > a) {
                out.add(new Member(line.substring(a + 1, b), line.substring(b + 1)));
            }
        }
        return out;
    }

    // ---- dump

    /** The cgroup sets of the tasks of one dump. */
    public static final class Dump {
        private final Map<List<Member>, Integer> sets = new LinkedHashMap<>();
        private final Map<Integer, Integer> setOfTask = new HashMap<>();

        /** Starts with Cryo's own set as set 1. */
        public Dump() throws CryoException {
            try {
                sets.put(read(Path.of("/proc/self/cgroup")), ROOT_SET);
            } catch (IOException e) {
                throw new CryoException("cannot dump: cannot read Cryo's own cgroups (/proc/self/cgroup): " + e.getMessage(),
                        e);
            }
        }

        /** Notes the cgroups of {@code pid} (frozen); its set's id, or 0 when /proc no longer shows them. */
        public int note(int pid) {
            try {
                int id = sets.computeIfAbsent(read(Path.of("/proc/" + pid + "/cgroup")), s -> sets.size() + 1);
                setOfTask.put(pid, id);
                return id;
            } catch (IOException e) {
                return 0;
            }
        }

        /** The set {@link #note} gave {@code pid}, or 0. */
        public int setOf(int pid) {
            return setOfTask.getOrDefault(pid, 0);
        }

        /** cgroup.img: every set, and per hierarchy the directories the sets other than Cryo's use. */
        public void write(ImageDir dir) throws IOException {
            cgroup_entry.Builder e = cgroup_entry.newBuilder();
            Map<String, TreeMap<String, Object>> dirs = new LinkedHashMap<>();
            for (Map.Entry<List<Member>, Integer> s : sets.entrySet()) {
                cg_set_entry.Builder set = cg_set_entry.newBuilder().setId(s.getValue());
                for (Member m : s.getKey()) {
                    set.addCtls(cg_member_entry.newBuilder().setName(m.name()).setPath(m.path()));
                    TreeMap<String, Object> tree = dirs.computeIfAbsent(m.name(), n -> new TreeMap<>());
                    if (s.getValue() != ROOT_SET) {
                        addPath(tree, m.path());
                    }
                }
                e.addSets(set);
            }
            for (Map.Entry<String, TreeMap<String, Object>> c : dirs.entrySet()) {
                cg_controller_entry.Builder ctl = cg_controller_entry.newBuilder();
                // the cgroup v2 hierarchy ("0::/path") is named by one empty name, as CRIU names it: CRIU's restore
                // refuses a controller entry with no name at all
                for (String n : c.getKey().split(",", -1)) {
                    ctl.addCnames(n);
                }
                ctl.addAllDirs(dirEntries(c.getValue()));
                e.addControllers(ctl);
            }
            dir.write(IMAGE, ImageFile.of("CGROUP", List.of(e.build())));
        }

        @SuppressWarnings("unchecked")
        private static void addPath(TreeMap<String, Object> tree, String path) {
            TreeMap<String, Object> at = tree;
            for (String part : path.split("/")) {
                if (!part.isEmpty()) {
                    at = (TreeMap<String, Object>) at.computeIfAbsent(part, p -> new TreeMap<String, Object>());
                }
            }
        }

        @SuppressWarnings("unchecked")
        private static List<cgroup_dir_entry> dirEntries(TreeMap<String, Object> tree) {
            List<cgroup_dir_entry> out = new ArrayList<>();
            for (Map.Entry<String, Object> d : tree.entrySet()) {
                out.add(cgroup_dir_entry.newBuilder().setDirName(d.getKey())
                        .addAllChildren(dirEntries((TreeMap<String, Object>) d.getValue())).build());
            }
            return out;
        }
    }

    // ---- restore

    /**
     * What the restore was asked: {@code mode} one of CRIU's (none, props, soft, full, strict, ignore; null: soft),
     * {@code roots} the {@code [CTRL:]PATH} new roots.
     */
    public record Options(String mode, List<String> roots) {
        public static final Options DEFAULT = new Options("soft", List.of());

        public Options {
            mode = mode == null || mode.isEmpty() ? "soft" : mode;
            roots = roots == null ? List.of() : List.copyOf(roots);
        }
    }

    /** Puts restored tasks into the cgroups their images name. */
    public static final class Restore {
        private final Log log;
        private final Options options;
        private final Map<Integer, List<Member>> sets = new HashMap<>();
        private final List<Member> rootSet;
        /** the root task's cgroup per hierarchy, where --cgroup-root moves it */
        private List<Member> treeRoot = List.of();
        /** the cgroup directories this restore made, removed again if it fails (deepest first) */
        private final List<Path> made = new ArrayList<>();
        private final Map<String, Mount> mounts;

        /** A cgroup hierarchy mounted where Cryo runs: its controllers, the path of its root, its mountpoint. */
        record Mount(String name, String root, Path at) {
        }

        private Restore(Log log, Options options, List<Member> rootSet, Map<String, Mount> mounts) {
            this.log = log;
            this.options = options;
            this.rootSet = rootSet;
            this.mounts = mounts;
        }

        /** Reads cgroup.img; a restore that puts no task anywhere when it is absent or the mode is ignore. */
        public static Restore of(ImageDir dir, int rootSetId, Options options, Log log) throws CryoException {
            if (options.mode().equals("ignore") || !dir.exists(IMAGE)) {
                return new Restore(log, options, null, Map.of());
            }
            cgroup_entry e;
            try {
                e = dir.read(IMAGE).entries(cgroup_entry.class).get(0);
            } catch (IOException | RuntimeException ex) {
                throw new CryoException("cannot restore from " + dir.path() + ": cannot read " + IMAGE + ": "
                        + ex.getMessage(), ex);
            }
            Map<Integer, List<Member>> sets = new HashMap<>();
            for (cg_set_entry s : e.getSetsList()) {
                List<Member> members = new ArrayList<>();
                for (cg_member_entry m : s.getCtlsList()) {
                    members.add(new Member(m.getName(), m.getPath()));
                }
                sets.put(s.getId(), members);
            }
            Restore r = new Restore(log, options, sets.getOrDefault(rootSetId, List.of()), mounts());
            r.sets.putAll(sets);
            return r;
        }

        /** The root task's set: the cgroups --cgroup-root moves. */
        public void treeRoot(int setId) {
            treeRoot = sets.getOrDefault(setId, List.of());
        }

        /**
         * Puts task {@code hostPid} (the images' {@code pid}), just made, into the cgroups of set {@code setId}.
         * Nothing for set 0 (none recorded) or in mode ignore.
         */
        public void join(int pid, int hostPid, int setId) throws CryoException {
            List<Member> set = sets.get(setId);
            if (rootSet == null || set == null) {
                return;
            }
            for (Member m : set) {
                String root = newRoot(m.name());
                boolean asDumper = rootSet.contains(m);
                if (asDumper && root == null) {
                    continue; // it was where the dumper was: it stays where the restorer is
                }
                String path = m.path();
                if (root != null) {
                    String old = treeRoot.stream().filter(t -> t.name().equals(m.name())).map(Member::path)
                            .findFirst().orElse(null);
                    if (old != null && (path.equals(old) || path.startsWith(old.endsWith("/") ? old : old + "/"))) {
                        path = (root + "/" + path.substring(old.length())).replaceAll("/+", "/");
                        if (path.length() > 1 && path.endsWith("/")) {
                            path = path.substring(0, path.length() - 1);
                        }
                    }
                }
                place(pid, hostPid, m.name(), path);
            }
        }

        private void place(int pid, int hostPid, String name, String path) throws CryoException {
            Mount mount = mountFor(name);
            String where = "cgroup " + (name.isEmpty() ? "(v2)" : name) + ":" + path;
            if (mount == null || !(path.equals(mount.root()) || path.startsWith(mount.root().equals("/") ? "/"
                    : mount.root() + "/"))) {
                log.warn("pid %d: %s is not reachable here (no such hierarchy mounted whole enough); it stays in "
                        + "Cryo's", pid, where);
                return;
            }
            Path dir = mount.at().resolve(path.substring(mount.root().length()).replaceFirst("^/", ""));
            if (!Files.isDirectory(dir)) {
                if (options.mode().equals("none") || options.mode().equals("props")) {
                    log.warn("pid %d: %s does not exist and --manage-cgroups %s makes none; it stays in Cryo's", pid,
                            where, options.mode());
                    return;
                }
                try {
                    makeDirs(dir);
                } catch (IOException e) {
                    log.warn("pid %d: %s could not be made (%s); it stays in Cryo's", pid, where, e.getMessage());
                    return;
                }
            }
            if (frozen(dir)) {
                // a task joining a frozen cgroup stops there, in the middle of being built
                log.warn("pid %d: %s is frozen; it stays in Cryo's (thaw the cgroup, and move it there)", pid, where);
                return;
            }
            try {
                Files.writeString(dir.resolve("cgroup.procs"), Integer.toString(hostPid));
                log.info("pid %d (host %d) joined %s", pid, hostPid, where);
            } catch (IOException e) {
                log.warn("pid %d: joining %s failed (%s); it stays in Cryo's", pid, where, e.getMessage());
            }
        }

        /** Whether the cgroup is frozen (v1 freezer.state not THAWED, v2 cgroup.freeze 1), or an ancestor froze it. */
        private static boolean frozen(Path dir) {
            try {
                if (Files.exists(dir.resolve("freezer.state"))) {
                    return !Files.readString(dir.resolve("freezer.state")).strip().equals("THAWED");
                }
                Path events = dir.resolve("cgroup.events");
                return Files.exists(events) && Files.readString(events).lines().anyMatch(l -> l.equals("frozen 1"))
                        || Files.exists(dir.resolve("cgroup.freeze"))
                        && Files.readString(dir.resolve("cgroup.freeze")).strip().equals("1");
            } catch (IOException e) {
                return false;
            }
        }

        /** The hierarchy whose mount options hold every controller of {@code name} (hierarchies share none). */
        private Mount mountFor(String name) {
            if (name.isEmpty()) {
                return mounts.get("");
            }
            List<String> wanted = List.of(name.split(","));
            for (Map.Entry<String, Mount> m : mounts.entrySet()) {
                if (!m.getKey().isEmpty() && List.of(m.getKey().split(",")).containsAll(wanted)) {
                    return m.getValue();
                }
            }
            return null;
        }

        private void makeDirs(Path dir) throws IOException {
            List<Path> missing = new ArrayList<>();
            for (Path p = dir; p != null && !Files.exists(p); p = p.getParent()) {
                missing.add(0, p);
            }
            for (Path p : missing) {
                Files.createDirectory(p);
                made.add(0, p);
                log.info("made cgroup %s", p);
            }
        }

        private String newRoot(String name) {
            String all = null;
            for (String r : options.roots()) {
                int colon = r.indexOf(':');
                if (colon > 0 && !r.startsWith("/")) {
                    for (String c : r.substring(0, colon).split(",")) {
                        if (List.of(name.split(",")).contains(c)) {
                            return r.substring(colon + 1);
                        }
                    }
                } else {
                    all = colon == 0 ? r.substring(1) : r;
                }
            }
            return all;
        }

        /** The restore failed: the cgroups it made are removed (their tasks were killed), deepest first. */
        public void abort() {
            DeletedFiles.removeAll(made, log);
        }

        /** The restore holds: the cgroups it made stay. */
        public void finish() {
            made.clear();
        }

        /** The cgroup hierarchies mounted in Cryo's mount namespace, by their controllers as /proc/PID/cgroup names them. */
        static Map<String, Mount> mounts() {
            Map<String, Mount> out = new HashMap<>();
            String text;
            try {
                text = Files.readString(Path.of("/proc/self/mountinfo"));
            } catch (IOException e) {
                return out;
            }
            for (String line : text.split("\n")) {
                String[] f = line.split(" ");
                int dash = java.util.Arrays.asList(f).indexOf("-");
                if (dash < 0 || f.length < dash + 4) {
                    continue;
                }
                String type = f[dash + 1];
                String at = f[4].replace("\\040", " "), root = f[3];
                if (type.equals("cgroup2")) {
                    out.merge("", new Mount("", root, Path.of(at)), (a, b) -> b.root().length() < a.root().length() ? b : a);
                } else if (type.equals("cgroup")) {
                    // its super options: the controllers and name= among them (found by containment, see mountFor)
                    String key = f[dash + 3];
                    // a hierarchy mounted more than once: the mount of its root (or nearest to it) serves
                    out.merge(key, new Mount(key, root, Path.of(at)),
                            (a, b) -> b.root().length() < a.root().length() ? b : a);
                }
            }
            return out;
        }
    }
}
