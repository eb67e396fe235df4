package dev.cryo.conformance.property;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@code randfds} fixture's {@code --fds} for a set of fds decoded from drawn numbers, one per fd: each number
 * picks the fd's kind and its state (see {@code fixtures-c/src/randfds.c}). Every kind is one Cryo dumps: eventfd,
 * pipe, unix socketpair (stream, datagram, seqpacket), timerfd, signalfd, inotify, epoll over earlier fds, memfd,
 * FIFO, deleted file, {@code /dev/null}, pidfd (of itself, of a waiting child, of a reaped child). Rules of the fixture: a signal is read by one signalfd only (a second
 * one would take the first's pending signal), and an epoll watches earlier fds that can be polled (not memfds,
 * deleted files or {@code /dev/null}: regular files cannot be; nor pidfds, whose readiness is a process's exit).
 */
final class FdSpec {
    // signals no one else sends the fixture (the harness uses SIGUSR1/2): standard and real-time (34 = SIGRTMIN)
    private static final int[] SIGNALS = {1, 2, 3, 15, 28, 35, 36, 37};
    private static final String[] CLOCKS = {"mono", "real", "boot"};
    private static final String[] SOCKETS = {"stream", "dgram", "seqpacket"};
    private static final int KINDS = 12;

    private FdSpec() {
    }

    static String of(List<Integer> ops) {
        List<String> fds = new ArrayList<>();
        List<Boolean> pollable = new ArrayList<>();
        List<Integer> usedSignals = new ArrayList<>();
        for (int j = 0; j < ops.size(); j++) {
            int v = TreeSpec.mix(ops.get(j), j);
            int bits = v / KINDS;
            String fd;
            boolean polls = true;
            switch (v % KINDS) {
                case 0 -> fd = "eventfd:" + bits % 40 + ":" + ((bits >>> 6) % 2 == 0 ? "sem" : "plain");
                case 1 -> fd = "pipe:" + size(bits);
                case 2 -> fd = "unix:" + SOCKETS[bits % 3] + ":" + (bits >>> 2) % 9;
                case 3 -> {
                    int init = (bits >>> 2) % 4 == 0 ? 0 : 1 + (bits >>> 4) % 2000; // some disarmed
                    int interval = (bits >>> 15) % 3 == 0 ? 0 : 20 + (bits >>> 17) % 480; // some one-shot
                    fd = "timerfd:" + CLOCKS[bits % 3] + ":" + interval + ":" + init;
                }
                case 4 -> {
                    int sig = SIGNALS[bits % SIGNALS.length];
                    for (int k = 1; usedSignals.contains(sig) && k <= SIGNALS.length; k++) {
                        sig = SIGNALS[(bits + k) % SIGNALS.length];
                    }
                    if (usedSignals.contains(sig)) {
                        fd = "eventfd:" + bits % 40 + ":plain";
                    } else {
                        usedSignals.add(sig);
                        fd = "signalfd:" + sig;
                    }
                }
                case 5 -> fd = "inotify:" + (1 + bits % 3);
                case 6 -> {
                    StringBuilder targets = new StringBuilder();
                    for (int t = 0; t < fds.size(); t++) {
                        if (pollable.get(t) && ((bits >>> (t % 20)) & 1) == 1) {
                            targets.append(targets.length() > 0 ? "." : "").append(t);
                        }
                    }
                    fd = "epoll:" + targets;
                }
                case 7 -> {
                    fd = "memfd:" + size(bits) + ":" + (bits >>> 20) % 16; // F_SEAL_SEAL, SHRINK, GROW, WRITE
                    polls = false;
                }
                case 8 -> fd = "fifo:" + size(bits);
                case 9 -> {
                    fd = "deleted:" + size(bits);
                    polls = false;
                }
                case 10 -> {
                    fd = "null";
                    polls = false;
                }
                default -> {
                    fd = "pidfd:" + new String[]{"self", "child", "reaped"}[bits % 3] + ((bits >>> 2) % 2 == 0 ? ":nb" : ":b");
                    polls = false;
                }
            }
            fds.add(fd);
            pollable.add(polls);
        }
        return String.join(",", fds);
    }

    /**
     * Simpler fd sets than {@code spec}, each with fewer fds, largest cuts first: the first half, the second half,
     * then all but one fd. An epoll keeps its targets that stay, renumbered.
     */
    static List<String> simpler(String spec) {
        String[] fds = spec.split(",");
        List<String> out = new ArrayList<>();
        int n = fds.length;
        if (n > 2) {
            out.add(keep(fds, 0, n / 2, -1));
            out.add(keep(fds, n / 2, n, -1));
        }
        for (int k = n - 1; n > 1 && k >= 0; k--) {
            out.add(keep(fds, 0, n, k));
        }
        return out;
    }

    /** The fds {@code from} to {@code to} but {@code drop}, numbered again from 0. */
    private static String keep(String[] fds, int from, int to, int drop) {
        List<Integer> newIndex = new ArrayList<>();
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < fds.length; i++) {
            boolean stays = i >= from && i < to && i != drop;
            newIndex.add(stays ? kept.size() : -1);
            if (!stays) {
                continue;
            }
            String fd = fds[i];
            if (fd.startsWith("epoll:")) {
                StringBuilder targets = new StringBuilder();
                for (String t : fd.substring(6).split("\\.")) {
                    if (!t.isEmpty() && newIndex.get(Integer.parseInt(t)) >= 0) {
                        targets.append(targets.length() > 0 ? "." : "").append(newIndex.get(Integer.parseInt(t)));
                    }
                }
                fd = "epoll:" + targets;
            }
            kept.add(fd);
        }
        return String.join(",", kept);
    }

    /** Bytes in flight or in a file: none, a few, or up to 60000 (below a pipe's 64 KiB). */
    private static int size(int bits) {
        return switch (bits % 4) {
            case 0 -> 0;
            case 1 -> 1 + (bits >>> 2) % 100;
            default -> (bits >>> 2) % 60001;
        };
    }
}
