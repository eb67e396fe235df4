package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Spawn;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The small process that holds a target's write-protect userfaultfd between two {@code cryo} runs, so the
 * target itself never holds it (it would see the fd in /proc/self/fd, and could close it with close_range).
 * It is {@code tail --pid=TARGET -f /dev/null} with the userfaultfd as its fd 3: it does nothing and leaves
 * by itself within a second of the target's exit, which closes the userfaultfd. Later runs take the fd back
 * with pidfd_getfd. A keeper is known by its pid and start time together (a pid alone may be reused), and it
 * carries {@code CRYO_UFFD_KEEPER=PID:STARTTIME} of its target in its environment.
 *
 * @param pid       the keeper process
 * @param startTime its start time (/proc/PID/stat field 22)
 */
public record UffdKeeper(int pid, long startTime) {
    static final int FD = 3;
    static final String ENV = "CRYO_UFFD_KEEPER";

    /** Starts a keeper for {@code target} holding {@code uffd} (an fd of Cryo's) as its fd 3. */
    static UffdKeeper spawn(int target, long targetStart, int uffd) throws SyscallException, IOException {
        String tail = Files.isExecutable(Path.of("/usr/bin/tail")) ? "/usr/bin/tail" : "/bin/tail";
        int pid = Spawn.program(tail, new String[]{"tail", "--pid=" + target, "-f", "/dev/null"},
                new String[]{ENV + "=" + target + ":" + targetStart}, uffd, FD, false);
        return new UffdKeeper(pid, startTime(pid));
    }

    /** Whether this keeper still runs, still holds a userfaultfd, and keeps it for {@code target}. */
    public boolean holds(int target, long targetStart) {
        try {
            Path dir = Path.of("/proc", Integer.toString(pid));
            return startTime(pid) == startTime
                    && Files.readSymbolicLink(dir.resolve("fd/" + FD)).toString().equals("anon_inode:[userfaultfd]")
                    && environ(dir).contains(ENV + "=" + target + ":" + targetStart);
        } catch (IOException e) {
            return false;
        }
    }

    /** Every live keeper of {@code target}, found in /proc (from earlier chains, or runs that lost track). */
    public static List<UffdKeeper> of(int target, long targetStart) {
        return all().getOrDefault(target + ":" + targetStart, List.of());
    }

    /**
     * Every live keeper in /proc, by the {@code PID:STARTTIME} of the target it keeps a userfaultfd for: one walk
     * of /proc for a whole tree's tasks.
     */
    public static java.util.Map<String, List<UffdKeeper>> all() {
        java.util.Map<String, List<UffdKeeper>> out = new java.util.HashMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    if (!Files.readString(p.resolve("comm")).strip().equals("tail")) {
                        continue;
                    }
                    UffdKeeper k = new UffdKeeper(Integer.parseInt(name), startTime(Integer.parseInt(name)));
                    String target = targetOf(p);
                    if (target != null && k.holds(Integer.parseInt(target.substring(0, target.indexOf(':'))),
                            Long.parseLong(target.substring(target.indexOf(':') + 1)))) {
                        out.computeIfAbsent(target, t -> new ArrayList<>()).add(k);
                    }
                } catch (IOException | RuntimeException e) {
                    // gone meanwhile, or not ours to read
                }
            }
        } catch (IOException e) {
            return out;
        }
        return out;
    }

    /** A new fd of Cryo's for the keeper's userfaultfd (the same open file). */
    int takeFd() throws SyscallException {
        long pidfd = Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
        try {
            return (int) Syscall.call("pidfd_getfd(" + pid + ", " + FD + ")", Syscall.PIDFD_GETFD, pidfd, FD, 0);
        } finally {
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }

    /** Ends the keeper; its userfaultfd closes with it. Only if it still is the keeper it was. */
    public void stop(int target, long targetStart) {
        long pidfd = Syscall.raw(Syscall.PIDFD_OPEN, pid, 0);
        if (pidfd < 0) {
            return; // gone already
        }
        try {
            if (!alive()) {
                return; // the pid is another process's now: the pidfd names that one
            }
            Syscall.raw(Syscall.PIDFD_SEND_SIGNAL, pidfd, 9, 0, 0);
            // returns once it has exited, so its userfaultfd is closed when the caller goes on (it is not our
            // child to wait for; a pidfd turns readable at exit)
            NativeBuffer poll = NativeBuffer.allocate(8);
            poll.putInt(0, (int) pidfd);
            poll.putInt(4, 1); // events = POLLIN
            Syscall.raw(POLL, poll.address(), 1, 2000);
            java.lang.ref.Reference.reachabilityFence(poll);
        } finally {
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }

    static final int POLL = 7;

    private boolean alive() {
        try {
            return startTime(pid) == startTime;
        } catch (IOException e) {
            return false;
        }
    }

    /** The {@code PID:STARTTIME} a keeper's environment names, or null. */
    private static String targetOf(Path dir) throws IOException {
        for (String line : environ(dir).split("\n")) {
            if (line.startsWith(ENV + "=") && line.indexOf(':') > 0) {
                return line.substring(ENV.length() + 1);
            }
        }
        return null;
    }

    private static String environ(Path dir) throws IOException {
        return new String(Files.readAllBytes(dir.resolve("environ")), StandardCharsets.UTF_8).replace('\0', '\n');
    }

    /** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
    public static long startTime(int pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[19]);
    }

    public static Optional<UffdKeeper> parse(String text) {
        if (text == null) {
            return Optional.empty();
        }
        String[] f = text.trim().split("\\s+");
        return Optional.of(new UffdKeeper(Integer.parseInt(f[0]), Long.parseLong(f[1])));
    }

    public String format() {
        return pid + " " + startTime;
    }
}
