package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The freezer cgroup a dump freezes its tree through ({@code --freeze-cgroup PATH}, RPC {@code freeze_cgroup}), as
 * CRIU does. cgroup v1: {@code freezer.state} reads THAWED, FREEZING or FROZEN and takes FROZEN or THAWED; its tasks
 * are in {@code tasks} (every thread). cgroup v2: {@code cgroup.freeze} takes 1 or 0, and {@code cgroup.events} says
 * {@code frozen 1} once every task is frozen; its threads are in {@code cgroup.threads}. Freezing a cgroup freezes
 * its descendant cgroups too, so its tasks are those of the whole subtree. A cgroup that was FROZEN (or FREEZING)
 * before the dump is frozen again before its tasks are let go, as CRIU leaves it.
 */
final class FreezerCgroup {
    enum State { THAWED, FREEZING, FROZEN }

    private final Path dir;
    private final boolean v2;
    private final int pid; // the dump's root, for the errors
    private final Duration bound;
    private final Log log;
    /** The state before the dump; null until {@link #freeze} read it. */
    private State origin;
    /** True while this dump holds the cgroup thawed that was frozen before it (it must be frozen again). */
    private boolean owesFreeze;

    private FreezerCgroup(Path dir, boolean v2, int pid, Duration bound, Log log) {
        this.dir = dir;
        this.v2 = v2;
        this.pid = pid;
        this.bound = bound;
        this.log = log;
    }

    /**
     * The freezer cgroup at {@code path}, checked before anything is touched: a directory of a cgroup v1 freezer
     * hierarchy (not its root, which cannot be frozen) or of cgroup v2, not frozen by an ancestor (a thaw of its
     * own would then never let its tasks run).
     */
    static FreezerCgroup open(String path, int pid, Duration bound, Log log) throws CryoException {
        Path dir = Path.of(path);
        String what = "cannot dump pid " + pid + ": --freeze-cgroup " + path;
        if (!Files.isDirectory(dir)) {
            throw new CryoException(what + " is not a directory: give the directory of the tree's freezer cgroup "
                    + "(e.g. /sys/fs/cgroup/freezer/NAME, or a cgroup v2 directory)");
        }
        boolean v1 = Files.exists(dir.resolve("freezer.state"));
        boolean v2 = !v1 && Files.exists(dir.resolve("cgroup.freeze"));
        if (!v1 && !v2) {
            throw new CryoException(what + " is not a freezer cgroup (it has neither freezer.state, cgroup v1, nor "
                    + "cgroup.freeze, cgroup v2; a hierarchy's root has neither): give the directory of the tree's "
                    + "freezer cgroup, e.g. /sys/fs/cgroup/freezer/NAME");
        }
        FreezerCgroup cg = new FreezerCgroup(dir, v2, pid, bound, log);
        try {
            boolean ancestorFrozen = v2
                    ? cg.read("cgroup.freeze").equals("0") && cg.eventsFrozen()
                    : cg.read("freezer.parent_freezing").equals("1");
            if (ancestorFrozen) {
                throw new CryoException(what + ": an ancestor cgroup of it is frozen, so its tasks could not be let "
                        + "run to be seized; thaw the ancestor, or name it with --freeze-cgroup");
            }
            cg.state();
            Path selfFrozen = cg.selfFrozenBelow(dir);
            if (selfFrozen != null) {
                throw new CryoException(what + ": the cgroup " + selfFrozen + " under it is frozen by itself, so a "
                        + "thaw of " + path + " would not let its tasks run to be seized; thaw it, or name it with "
                        + "--freeze-cgroup");
            }
            // a path naming some other cgroup (another container's) is refused before it is frozen
            if (Files.exists(Path.of("/proc/" + pid)) && !cg.tids().contains(pid)) { // no such pid: the check says so
                throw new CryoException("cannot dump pid " + pid + ": it is not in freezer cgroup " + dir + " (it is in "
                        + cg.placeOf(pid) + "), so the cgroup cannot freeze it: name the tree's own freezer cgroup, "
                        + "or dump without --freeze-cgroup");
            }
        } catch (IOException | RuntimeException e) {
            throw new CryoException(what + ": cannot read its freezer state (" + e.getMessage() + ")");
        }
        return cg;
    }

    @Override
    public String toString() {
        return dir.toString();
    }

    private String read(String file) throws IOException {
        return Files.readString(dir.resolve(file)).strip();
    }

    private boolean eventsFrozen() throws IOException {
        for (String line : Files.readAllLines(dir.resolve("cgroup.events"))) {
            if (line.startsWith("frozen ")) {
                return line.substring(7).strip().equals("1");
            }
        }
        throw new IOException(dir.resolve("cgroup.events") + " has no 'frozen' line");
    }

    State state() throws IOException {
        if (v2) {
            if (read("cgroup.freeze").equals("0")) {
                return State.THAWED;
            }
            return eventsFrozen() ? State.FROZEN : State.FREEZING;
        }
        String s = read("freezer.state");
        return switch (s) {
            case "THAWED" -> State.THAWED;
            case "FREEZING" -> State.FREEZING;
            case "FROZEN" -> State.FROZEN;
            default -> throw new IOException(dir.resolve("freezer.state") + " reads '" + s + "'");
        };
    }

    private void write(boolean frozen) throws IOException {
        if (v2) {
            Files.writeString(dir.resolve("cgroup.freeze"), frozen ? "1" : "0");
        } else {
            Files.writeString(dir.resolve("freezer.state"), frozen ? "FROZEN" : "THAWED");
        }
    }

    /** How long a freeze may take to settle. */
    Duration bound() {
        return bound;
    }

    /** True while the cgroup, frozen before the dump, is thawed by it: to be frozen again before its tasks go. */
    boolean owesFreeze() {
        return owesFreeze;
    }

    /** Whether the cgroup was frozen before the dump (known once {@link #freeze} ran). */
    boolean wasFrozen() {
        return origin != null && origin != State.THAWED;
    }

    /**
     * Freezes the cgroup (unless it already was) and waits, within the dump's bound, until every task of it is
     * frozen. One that does not settle is thawed again (when this dump froze it) and named.
     */
    void freeze() throws CryoException {
        try {
            origin = state();
            log.info("freezer cgroup %s: %s before the dump", dir, origin);
            if (origin == State.THAWED) {
                write(true);
            }
            if (!awaitState(State.FROZEN)) {
                State now = state();
                if (origin == State.THAWED) {
                    write(false);
                }
                throw new CryoException("cannot dump pid " + pid + ": freezer cgroup " + dir + " did not reach FROZEN "
                        + "within " + bound.toSeconds() + " s (still " + now + ": a task of it is in an "
                        + "uninterruptible sleep or exiting); "
                        + (origin == State.THAWED ? "it is thawed again, nothing was dumped: " : "") + "try again, "
                        + "or raise --timeout");
            }
        } catch (IOException e) {
            if (origin == State.THAWED) {
                thawQuietly();
            }
            throw new CryoException("cannot dump pid " + pid + ": cannot freeze freezer cgroup " + dir + ": "
                    + e.getMessage());
        }
    }

    /** Polls the state until it is {@code wanted} or the bound passes (v1 offers nothing to wait on). */
    private boolean awaitState(State wanted) throws IOException {
        long deadline = System.nanoTime() + bound.toNanos();
        long pauseUs = 200;
        while (true) {
            if (state() == wanted) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(pauseUs * 1000);
            pauseUs = Math.min(pauseUs * 2, 50_000);
        }
    }

    /**
     * Lets the cgroup's tasks run (the seized ones then stop for their tracer), whatever its state before; one that
     * was frozen before is owed a freeze before its tasks are let go ({@link #refreeze}).
     */
    void thaw() throws CryoException {
        try {
            write(false);
            owesFreeze = wasFrozen();
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot thaw freezer cgroup " + dir + ": "
                    + e.getMessage());
        }
    }

    /** A thaw on a failure path: the error that led here is the one reported. */
    void thawQuietly() {
        try {
            thaw();
        } catch (CryoException e) {
            log.error("%s", e.getMessage());
        }
    }

    /** The watchdog's thaw: the seizing of the frozen tasks outlasted the bound (a seize waiting on one). */
    void thawLate() {
        log.warn("freezer cgroup %s: seizing its tasks outlasted %d s; thawed before all were seized (the rest are "
                + "frozen by ptrace alone)", dir, bound.toSeconds());
        thawQuietly();
    }

    /**
     * Freezes again a cgroup that was frozen before the dump, while its tasks are still held (stopped by ptrace,
     * they freeze as they are): once let go they stay frozen, as the dump found them. Nothing to do otherwise.
     */
    void refreeze() {
        if (!owesFreeze) {
            return;
        }
        try {
            write(true);
            owesFreeze = false;
            if (!awaitState(State.FROZEN)) {
                log.error("freezer cgroup %s: frozen again after the dump, it did not reach FROZEN within %d s",
                        dir, bound.toSeconds());
            } else {
                log.info("freezer cgroup %s: frozen again, as it was before the dump", dir);
            }
        } catch (IOException e) {
            log.error("freezer cgroup %s was frozen before the dump and could not be frozen again: %s", dir,
                    e.getMessage());
        }
    }

    /** A cgroup under {@code cg} frozen on its own (not through {@code cg}), or null. */
    private Path selfFrozenBelow(Path cg) throws IOException {
        List<Path> children = new ArrayList<>();
        try (Stream<Path> s = Files.list(cg)) {
            s.filter(Files::isDirectory).forEach(children::add);
        }
        for (Path child : children) {
            String own = Files.readString(child.resolve(v2 ? "cgroup.freeze" : "freezer.self_freezing")).strip();
            if (own.equals("1")) {
                return child;
            }
            Path below = selfFrozenBelow(child);
            if (below != null) {
                return below;
            }
        }
        return null;
    }

    /** The thread ids in the cgroup and its descendants, each listed once. */
    Set<Integer> tids() throws IOException {
        Set<Integer> all = new LinkedHashSet<>();
        collect(dir, all);
        return all;
    }

    private void collect(Path cg, Set<Integer> into) throws IOException {
        for (String line : Files.readAllLines(cg.resolve(v2 ? "cgroup.threads" : "tasks"))) {
            if (!line.isBlank()) {
                into.add(Integer.parseInt(line.strip()));
            }
        }
        List<Path> children = new ArrayList<>();
        try (Stream<Path> s = Files.list(cg)) {
            s.filter(Files::isDirectory).forEach(children::add);
        }
        for (Path child : children) {
            collect(child, into);
        }
    }

    /** Where {@code tid} is in this cgroup's hierarchy, as /proc says (for an error). */
    String placeOf(int tid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + tid + "/cgroup"))) {
                String[] f = line.split(":", 3);
                if (f.length == 3 && (v2 ? f[0].equals("0") && f[1].isEmpty()
                        : List.of(f[1].split(",")).contains("freezer"))) {
                    return f[2];
                }
            }
        } catch (IOException e) {
            // named without it
        }
        return "?";
    }
}
