package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The cgroup freezer a dump's root sits in, when its owner has frozen it: containerd pauses a task (runc pause, the
 * cgroup freezer) before it asks runc for a checkpoint, so that {@code docker checkpoint create} hands Cryo a container
 * whose tasks are all frozen by the cgroup. A task frozen so cannot reach the ptrace stop Cryo's freeze waits for
 * (PTRACE_INTERRUPT is only acted on once the task runs): the dump would wait for ever. So the cgroup is thawed for
 * the ptrace freeze and frozen again before the tree is let go, whether the dump succeeded or failed: the owner
 * finds its tasks frozen as it left them (containerd then resumes them itself, as runc's state requires: a container
 * left thawed would stay "paused" for Docker and refuse the resume). CRIU does the same for a cgroup frozen before
 * its dump; it seizes the tasks first and thaws after, where Cryo thaws first: the tasks run for the moment between
 * the thaw and the seize, which the ptrace freeze's consistency covers as it does for a tree never paused.
 *
 * <p>cgroup v1: the {@code freezer} hierarchy's {@code freezer.state} (FROZEN, FREEZING, THAWED); v2: the unified
 * hierarchy's {@code cgroup.freeze} (1 or 0). A tree killed after the dump leaves its cgroup thawed: a frozen cgroup
 * would keep the killed tasks from exiting (v1).
 */
final class FrozenCgroup {
    private final int pid;
    private final Path control;
    private final boolean v1;

    private FrozenCgroup(int pid, Path control, boolean v1) {
        this.pid = pid;
        this.control = control;
        this.v1 = v1;
    }

    /**
     * Thaws the freezer cgroup of {@code pid} if its owner froze it, and returns it so that {@link #refreeze} puts it
     * back; null when the task is not in a frozen cgroup (nothing to do: the common case).
     *
     * @param procRoot /proc; {@code mountinfo} the host's mount table where the cgroup hierarchies are mounted
     */
    static FrozenCgroup thawIfFrozen(Path procRoot, int pid, Log log) throws CryoException {
        FrozenCgroup frozen = find(procRoot, pid);
        if (frozen == null) {
            return null;
        }
        log.info("pid %d: its cgroup is frozen (%s, as containerd's pause leaves it); thawing it for the ptrace freeze, "
                + "frozen again before the tree is let go", pid, frozen.control);
        frozen.write(frozen.v1 ? "THAWED" : "0", "thaw");
        return frozen;
    }

    /** Freezes the cgroup again, as its owner had it. */
    void refreeze(Log log) throws CryoException {
        write(v1 ? "FROZEN" : "1", "freeze again");
        log.info("pid %d: its cgroup is frozen again (%s), as it was before the dump", pid, control);
    }

    private void write(String state, String step) throws CryoException {
        try {
            Files.writeString(control, state);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": its cgroup was frozen by its owner (" + control
                    + ") and Cryo cannot " + step + " it: " + e.getMessage() + "; thaw it (docker unpause, runc resume) "
                    + "before the dump");
        }
    }

    /** The freezer control file of pid's cgroup when it reads frozen, else null. */
    static FrozenCgroup find(Path procRoot, int pid) {
        List<String> cgroups;
        List<String> mounts;
        try {
            cgroups = Files.readAllLines(procRoot.resolve(pid + "/cgroup"));
            mounts = Files.readAllLines(procRoot.resolve("self/mountinfo"));
        } catch (IOException e) {
            return null; // no cgroups to be frozen in (or the task is gone, which the freeze reports)
        }
        for (String line : cgroups) {
            // HIERARCHY-ID:CONTROLLERS:PATH; v1's freezer names its controller, v2's unified line is 0::PATH
            String[] f = line.split(":", 3);
            if (f.length != 3) {
                continue;
            }
            boolean v1 = List.of(f[1].split(",")).contains("freezer");
            boolean v2 = f[0].equals("0") && f[1].isEmpty();
            if (!v1 && !v2) {
                continue;
            }
            Path mount = mountOf(mounts, v1);
            if (mount == null) {
                continue;
            }
            Path dir = mount.resolve(f[2].startsWith("/") ? f[2].substring(1) : f[2]);
            Path control = dir.resolve(v1 ? "freezer.state" : "cgroup.freeze");
            try {
                String state = Files.readString(control).strip();
                if (v1 ? !state.equals("THAWED") : state.equals("1")) {
                    return new FrozenCgroup(pid, control, v1);
                }
            } catch (IOException e) {
                // the root cgroup (no freezer file) or a hierarchy mounted elsewhere: not frozen by anyone
            }
        }
        return null;
    }

    /** Where the freezer hierarchy (v1) or the unified one (v2) is mounted, from a mountinfo; null if nowhere. */
    private static Path mountOf(List<String> mountinfo, boolean v1) {
        for (String m : mountinfo) {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
            int dash = m.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] pre = m.substring(0, dash).split(" ");
            String[] post = m.substring(dash + 3).split(" ");
            if (pre.length < 5 || post.length < 3 || !pre[3].equals("/")) {
                continue; // a bind of part of a hierarchy would name other paths
            }
            boolean match = v1 ? post[0].equals("cgroup") && List.of(post[2].split(",")).contains("freezer")
                    : post[0].equals("cgroup2");
            if (match) {
                return Path.of(pre[4].replace("\\040", " "));
            }
        }
        return null;
    }
}
