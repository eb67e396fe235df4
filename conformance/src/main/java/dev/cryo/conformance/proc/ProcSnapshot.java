package dev.cryo.conformance.proc;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What /proc says about a process tree at one moment, as read inside the sandbox by {@link ProcProbe}:
 * every task with its state and signal masks, every mapping, every fd.
 */
public record ProcSnapshot(List<TaskRow> tasks, List<MapRow> maps, List<FdRow> fds) {

    /** One thread: {@code State:}, {@code PPid:} and the signal lines of /proc/PID/task/TID/status. */
    public record TaskRow(int pid, int tid, int ppid, String state, String sigPnd, String shdPnd, String sigBlk,
                          String sigIgn, String sigCgt) {
        public boolean stopped() {
            return state.equals("T") || state.equals("t");
        }
    }

    /** One line of /proc/PID/maps without the device and inode columns. */
    public record MapRow(int pid, String range, String perms, String offset, String path) {
        @Override
        public String toString() {
            return "pid " + pid + " " + range + " " + perms + " " + offset + (path.isEmpty() ? "" : " " + path);
        }
    }

    /** One fd: where /proc/PID/fd/N points and the flags of /proc/PID/fdinfo/N. */
    public record FdRow(int pid, int fd, String target, String flags) {
        @Override
        public String toString() {
            return "pid " + pid + " fd " + fd + " -> " + target + " (flags " + flags + ")";
        }
    }

    public ProcSnapshot {
        tasks = List.copyOf(tasks);
        maps = List.copyOf(maps);
        fds = List.copyOf(fds);
    }

    public static ProcSnapshot parse(String probeOutput) {
        List<TaskRow> tasks = new ArrayList<>();
        List<MapRow> maps = new ArrayList<>();
        List<FdRow> fds = new ArrayList<>();
        for (String line : probeOutput.split("\n")) {
            String[] f = line.split(" ", -1);
            try {
                switch (f[0]) {
                    case "T" -> {
                        if (f.length >= 10) {
                            tasks.add(new TaskRow(Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]),
                                    f[4], f[5], f[6], f[7], f[8], f[9]));
                        }
                    }
                    case "M" -> {
                        if (f.length >= 5) {
                            maps.add(new MapRow(Integer.parseInt(f[1]), f[2], f[3], f[4],
                                    f.length > 5 ? String.join(" ", List.of(f).subList(5, f.length)).strip() : ""));
                        }
                    }
                    case "F" -> {
                        // an empty link: the fd was closed between the listing and its readlink
                        if (f.length >= 5 && !f[3].isEmpty()) {
                            fds.add(new FdRow(Integer.parseInt(f[1]), Integer.parseInt(f[2]), f[3], f[4]));
                        }
                    }
                    default -> {
                        // a line of a process that went away mid-probe
                    }
                }
            } catch (NumberFormatException e) {
                // same: half a line
            }
        }
        return new ProcSnapshot(tasks, maps, fds);
    }

    public boolean isEmpty() {
        return tasks.isEmpty();
    }

    /** "pid/tid" of every task, sorted. */
    public Set<String> taskIds() {
        Set<String> ids = new TreeSet<>();
        tasks.forEach(t -> ids.add(t.pid() + "/" + t.tid()));
        return ids;
    }

    public Set<Integer> pids() {
        Set<Integer> pids = new TreeSet<>();
        tasks.forEach(t -> pids.add(t.pid()));
        return pids;
    }

    /**
     * The fds with the inode numbers of pipes, sockets and the like replaced by the order they were
     * first seen in: a restore makes new inodes, but which fds share one must stay the same.
     */
    public List<String> normalisedFds() {
        Map<String, String> names = new LinkedHashMap<>();
        List<String> rows = new ArrayList<>();
        // numbered in pid and fd order, not the probe's: a restore may list a task's children in another order
        List<FdRow> ordered = fds.stream().sorted(java.util.Comparator.comparingInt(FdRow::pid)
                .thenComparingInt(FdRow::fd)).toList();
        for (FdRow fd : ordered) {
            String target = fd.target();
            int open = target.indexOf(":[");
            if (open > 0 && target.endsWith("]")) {
                String kind = target.substring(0, open);
                target = names.computeIfAbsent(target, t -> kind + ":#" + (names.size() + 1));
            }
            rows.add("pid " + fd.pid() + " fd " + fd.fd() + " -> " + target + " (flags " + fd.flags() + ")");
        }
        return rows;
    }
}
