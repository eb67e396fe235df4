package dev.cryo.conformance.property;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@code randtree} fixture's arguments for a tree decoded from drawn numbers, one per task (the first also
 * gives the root's thread count): each number picks the task's parent among the tasks before it and its flags
 * (see {@code fixtures-c/src/randtree.c}). Rules the kernel's fork would impose, and the fixture's own: 4 levels at
 * most; zombies and stopped tasks are leaves; the children of a task that leaves early ({@code x}) have no pipe to
 * it and are neither zombies nor stopped (their parent is gone).
 */
final class TreeSpec {
    static final int MAX_DEPTH = 3; // the root is level 0

    private TreeSpec() {
    }

    static List<String> of(List<Integer> ops) {
        int rootThreads = ops.get(0) % 3;
        List<Integer> depth = new ArrayList<>(List.of(0));
        List<String> flagsOf = new ArrayList<>(List.of(""));
        StringBuilder tree = new StringBuilder();
        for (int j = 1; j < ops.size(); j++) {
            int v = mix(ops.get(j), j); // the same number drawn twice still makes two different tasks
            List<Integer> parents = new ArrayList<>();
            for (int k = 0; k < depth.size(); k++) {
                String f = flagsOf.get(k);
                if (depth.get(k) < MAX_DEPTH && !f.contains("z") && !f.contains("t")) {
                    parents.add(k);
                }
            }
            int parent = parents.get((v & 0xff) % parents.size());
            boolean orphan = flagsOf.get(parent).contains("x");
            int bits = v >>> 8;
            StringBuilder f = new StringBuilder();
            if (bits % 8 == 0) {
                f.append('s');
            } else if ((bits >>> 3) % 4 == 0) {
                f.append('g');
            }
            if (!orphan && (bits >>> 5) % 3 == 0) {
                f.append('p');
            }
            int fate = (bits >>> 7) % 16; // how the task lives: on (most), leaving early, a zombie, stopped
            if (fate < 2) {
                f.append('x');
            } else if (fate < 4 && !orphan) {
                f.append('z');
            } else if (fate == 4 && !orphan) {
                f.append('t');
            }
            String flags = f.toString();
            int threads = flags.contains("x") || flags.contains("z") ? 0 : (bits >>> 11) % 3;
            if (tree.length() > 0) {
                tree.append(',');
            }
            tree.append(parent).append(':').append(flags).append(':').append(threads);
            depth.add(depth.get(parent) + 1);
            flagsOf.add(flags);
        }
        List<String> args = new ArrayList<>();
        args.add("--root-threads=" + rootThreads);
        if (tree.length() > 0) {
            args.add("--tree=" + tree);
        }
        return args;
    }

    /** SplitMix64's finaliser over the drawn number and the task's place: well spread bits for every draw. */
    static int mix(int drawn, int index) {
        long z = (drawn & 0xffffffffL) * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (int) ((z ^ (z >>> 31)) >>> 1) & Integer.MAX_VALUE;
    }
}
