package dev.cryo.conformance.property;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The drawn trees keep the rules randtree and the kernel's fork impose. */
class TreeSpecTest {

    @Test
    void drawnTreesKeepTheFixturesRules() {
        qt().withExamples(300).forAll(lists().of(integers().between(0, Integer.MAX_VALUE)).ofSizeBetween(1, 30))
                .checkAssert(ops -> {
                    List<String> args = TreeSpec.of(ops);
                    assertTrue(args.get(0).matches("--root-threads=[0-2]"), args.toString());
                    List<String> tasks = args.size() < 2 ? List.of()
                            : List.of(args.get(1).substring("--tree=".length()).split(","));
                    assertEquals(ops.size() - 1, tasks.size(), "one task per drawn number after the first");
                    List<Integer> depth = new ArrayList<>(List.of(0));
                    List<String> flags = new ArrayList<>(List.of(""));
                    for (String t : tasks) {
                        String[] f = t.split(":", -1);
                        int parent = Integer.parseInt(f[0]);
                        assertTrue(parent < depth.size(), t + ": a parent born before it");
                        String pf = flags.get(parent);
                        assertFalse(pf.contains("z") || pf.contains("t"), t + ": zombies and stopped tasks are leaves");
                        if (pf.contains("x")) {
                            assertFalse(f[1].matches(".*[pzt].*"), t + ": a child of a task gone early has no pipe to "
                                    + "it and neither dies nor stops");
                        }
                        depth.add(depth.get(parent) + 1);
                        assertTrue(depth.get(depth.size() - 1) <= TreeSpec.MAX_DEPTH, t + ": 4 levels at most");
                        int threads = Integer.parseInt(f[2]);
                        assertTrue(threads >= 0 && threads <= 2, t);
                        flags.add(f[1]);
                    }
                });
    }

    @Test
    void theSameDrawGivesTheSameTree() {
        List<Integer> ops = List.of(5, 77, 77, 77, 123456, 9);
        assertEquals(TreeSpec.of(ops), TreeSpec.of(ops));
    }
}
