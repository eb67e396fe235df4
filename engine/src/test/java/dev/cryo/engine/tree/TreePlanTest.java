package dev.cryo.engine.tree;

import dev.cryo.engine.CryoException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

class TreePlanTest {
    /** Random trees a run draws: {@code -Dcryo.treeplan.examples=500000} searches far wider (seconds, not minutes). */
    static final int EXAMPLES = Integer.getInteger("cryo.treeplan.examples", 200);

    static TreeTask t(int pid, int ppid, int pgid, int sid) {
        return TreeTask.alive(pid, ppid, pgid, sid);
    }

    @Test
    void singleProcessIsForkedLedBuiltAndResumed() throws CryoException {
        TreePlan plan = TreePlan.of(List.of(t(100, 1, 100, 100)), false);
        assertEquals("""
                fork 100 (root, by the engine)
                setsid 100
                build 100
                resume 100
                """, plan.toString());
    }

    @Test
    void shellJobRootKeepsTheRestorersSessionAndLeadsItsGroup() throws CryoException {
        TreePlan plan = TreePlan.of(List.of(t(100, 1, 100, 100), t(101, 100, 100, 100)), true);
        assertEquals("""
                fork 100 (root, by the engine)
                fork 101 by 100
                setpgid 100 (leads its group)
                setpgid 101 joins group 100
                build 100
                build 101
                resume 100
                resume 101
                """, plan.toString());
    }

    @Test
    void rootOutsideItsSessionAndGroupLeavesThemToTheRestorer() throws CryoException {
        // dumped from a shell without job control: root and child in the shell's session 7 and group 7
        TreePlan plan = TreePlan.of(List.of(t(100, 7, 7, 7), t(101, 100, 7, 7)), false);
        // 101 is in the restorer's group from its fork on (no setpgid: in a container that group is not even
        // visible to it)
        assertTrue(plan.steps().stream().noneMatch(s -> s instanceof PlanStep.SetPgid), plan.toString());
        assertTrue(plan.steps().stream().noneMatch(s -> s instanceof PlanStep.SetSid), plan.toString());
        play(plan, List.of(t(100, 7, 7, 7), t(101, 100, 7, 7)));
    }

    @Test
    void daemonWhoseSessionLeaderDiedGetsAHelperUnderItsReaper() throws CryoException {
        // 100 subreaper; 200 did setsid, forked 201 (which leads group 201 with 202), and exited
        List<TreeTask> tree = List.of(t(100, 1, 100, 100).withSubreaper(), t(201, 100, 201, 200),
                t(202, 201, 201, 200));
        TreePlan plan = TreePlan.of(tree, false);
        assertEquals("""
                fork 100 (root, by the engine)
                setsid 100
                subreaper 100 on
                fork helper 200 by 100
                setsid 200
                fork 201 by 200
                fork 202 by 201
                setpgid 201 (leads its group)
                setpgid 202 joins group 201
                exit helper 200, reaped by 100
                build 100
                build 201
                build 202
                resume 100
                resume 201
                resume 202
                """, plan.toString());
        assertEquals(List.of(200), plan.helpers());
        play(plan, tree);
    }

    @Test
    void deadSessionLeadersReaperIsMadeASubreaperOnlyWhileTheHelperExits() throws CryoException {
        List<TreeTask> tree = List.of(t(100, 1, 100, 100), t(201, 100, 200, 200));
        TreePlan plan = TreePlan.of(tree, false);
        String s = plan.toString();
        assertTrue(s.contains("subreaper 100 on\nexit helper 200, reaped by 100\nsubreaper 100 off\n"), s);
        play(plan, tree);
    }

    @Test
    void pipelineWhoseGroupLeaderExitedGetsAGroupHelperBesideIt() throws CryoException {
        // a shell 100 ran "a | b | c" as group 150; a (150) is gone
        List<TreeTask> tree = List.of(t(100, 1, 100, 100), t(151, 100, 150, 100), t(152, 100, 150, 100));
        TreePlan plan = TreePlan.of(tree, false);
        assertEquals(List.of(150), plan.helpers());
        assertEquals(100, plan.creatorOf(150));
        String s = plan.toString();
        assertTrue(s.indexOf("fork helper 150 by 100") < s.indexOf("fork 151 by 100"), s);
        assertTrue(s.indexOf("setpgid 150 (leads its group)") < s.indexOf("setpgid 151 joins group 150"), s);
        assertTrue(s.indexOf("setpgid 152 joins group 150") < s.indexOf("exit helper 150, reaped by 100"), s);
        play(plan, tree);
    }

    @Test
    void zombiesExitLastWithTheirStatusAndStoppedTasksStayStopped() throws CryoException {
        List<TreeTask> tree = List.of(t(100, 1, 100, 100), t(101, 100, 100, 100).zombie(3 << 8),
                t(102, 100, 100, 100).stopped(19));
        TreePlan plan = TreePlan.of(tree, false);
        List<PlanStep> steps = plan.steps();
        int zombie = steps.indexOf(new PlanStep.BecomeZombie(101, 3 << 8));
        assertTrue(zombie > steps.indexOf(new PlanStep.Build(102)), plan.toString());
        assertTrue(steps.contains(new PlanStep.Resume(102, 19)));
        assertTrue(steps.stream().noneMatch(s -> s.equals(new PlanStep.Build(101))), "a zombie has no image to build");
        assertEquals("zombie 101 (exit 3)", new PlanStep.BecomeZombie(101, 3 << 8).toString());
        assertEquals("zombie 101 (killed by signal 9)", new PlanStep.BecomeZombie(101, 9).toString());
        play(plan, tree);
    }

    @Test
    void threeLevelTreeWithDeadSessionAndGroupLeaders() throws CryoException {
        // 100 session leader and subreaper; 101 its group's member; 110 leads group 110 with 111;
        // session 300's leader died (its members 301, 302 under 100), and so did their group 305's leader
        List<TreeTask> tree = List.of(t(100, 1, 100, 100).withSubreaper(), t(101, 100, 100, 100),
                t(110, 101, 110, 100), t(111, 110, 110, 100), t(301, 100, 305, 300), t(302, 301, 305, 300),
                t(303, 302, 300, 300));
        TreePlan plan = TreePlan.of(tree, false);
        assertEquals(List.of(300, 305), plan.helpers());
        assertEquals(300, plan.creatorOf(305), "the group helper is made inside the dead leader's session");
        play(plan, tree);
    }

    @Test
    void leadersInEachOthersGroupsLeaveThemWhileAHolderKeepsOne() throws CryoException {
        // 100 and 111 (the root's session, outside the tree) are each in the other's group; 110, which held group
        // 100 while 111 joined it, left for a session of its own
        List<TreeTask> tree = List.of(t(100, 1, 111, 1), t(110, 100, 110, 110), t(111, 100, 100, 1));
        TreePlan plan = TreePlan.of(tree, false);
        String s = plan.toString();
        assertTrue(s.contains("""
                setpgid 100 (leads its group)
                setpgid 111 (leads its group)
                fork holder of group 100 by 100
                setpgid 100 joins group 111
                setpgid 111 joins group 100
                exit holder of group 100, reaped by 100
                """), s);
        assertEquals(List.of(), plan.helpers(), "a holder takes any free pid: none of the tree's");
        play(plan, tree);
        // a chain: 102 joins 101's group once 103 has moved into it, 101 leaves for 102's
        List<TreeTask> chain = List.of(t(100, 1, 100, 100), t(101, 100, 102, 100), t(102, 100, 103, 100),
                t(103, 100, 101, 100), t(104, 100, 103, 100));
        TreePlan p2 = TreePlan.of(chain, false);
        assertTrue(p2.steps().stream().noneMatch(x -> x instanceof PlanStep.HoldGroup), p2.toString());
        play(p2, chain);
    }

    /**
     * Children forked before their parent's setsid stay in the session it left (CRIU's zdtm session00, which CRIU 4.2
     * cannot restore): the parent forks them again before its setsid, and a grandchild of a parent that did the same
     * is in the root's session two levels down.
     */
    @Test
    void childrenForkedBeforeTheirParentsSetsidKeepTheSessionItLeft() throws CryoException {
        List<TreeTask> tree = List.of(t(100, 1, 100, 100), t(104, 100, 104, 104), t(105, 100, 100, 100),
                t(108, 100, 108, 108), t(109, 108, 100, 100), t(110, 100, 110, 110), t(111, 110, 111, 111),
                t(112, 111, 100, 100), t(113, 111, 111, 111));
        TreePlan plan = TreePlan.of(tree, false);
        String steps = plan.toString();
        assertTrue(steps.contains("fork 108 by 100\nfork 109 by 108\nsetsid 108\n"), steps);
        assertTrue(steps.contains("fork 110 by 100\nfork 111 by 110\nsetsid 110\nfork 112 by 111\nsetsid 111\n"
                + "fork 113 by 111\n"), steps);
        play(plan, tree);
    }

    @Test
    void everyPidTheRestoreTakesIsListed() throws CryoException {
        List<TreeTask> tree = List.of(t(100, 1, 100, 100).withThreads(List.of(100, 104)), t(201, 100, 200, 200));
        assertEquals(List.of(100, 104, 200, 201), new ArrayList<>(TreePlan.of(tree, false).pids()));
    }

    @Test
    void refusesWhatTheKernelCannotRebuild() {
        assertEquals("cannot restore the process tree: pid 100 appears twice in pstree.img",
                assertThrows(CryoException.class, () -> TreePlan.of(List.of(t(100, 1, 100, 100),
                        t(100, 1, 100, 100)), false)).getMessage());
        assertTrue(assertThrows(CryoException.class, () -> TreePlan.of(List.of(t(100, 1, 100, 100),
                t(101, 100, 100, 100).zombie(0), t(102, 101, 100, 100)), false)).getMessage()
                .contains("zombie 101 has children"));
        // 102 in 101's session, but forked under 100 (101 alive): no task can hand it that session
        assertTrue(assertThrows(CryoException.class, () -> TreePlan.of(List.of(t(100, 1, 100, 100),
                t(101, 100, 101, 101), t(102, 100, 101, 101)), false)).getMessage()
                .contains("pid 102 is in session 101 but its parent 100 is in session 100"));
        String two = assertThrows(CryoException.class, () -> TreePlan.of(List.of(t(100, 1, 100, 100),
                t(101, 100, 101, 101), t(102, 101, 101, 101).withSubreaper(), t(201, 100, 200, 200),
                t(202, 102, 200, 200)), false)).getMessage();
        assertTrue(two.contains("under two parents, 100 and 102"), two);
        String m = assertThrows(CryoException.class, () -> TreePlan.of(List.of(t(100, 1, 100, 100),
                t(101, 100, 150, 100), t(102, 100, 150, 103)), false)).getMessage();
        assertTrue(m.contains("belongs to session"), m);
    }

    /** Random lives of a tree under a kernel model: whatever the plan accepts, its replay rebuilds exactly. */
    @Test
    void plansOfRandomTreesRebuildTheirIdsParentsAndStates() {
        int[] refused = new int[1];
        qt().withExamples(EXAMPLES).forAll(integers().between(0, 1), lists().of(integers().between(0, 1 << 20))
                .ofSizeBetween(1, 40)).checkAssert((rootSetsid, ops) -> {
            List<TreeTask> tree = live(rootSetsid == 1, ops);
            TreePlan plan;
            try {
                plan = TreePlan.of(tree, false);
            } catch (CryoException e) {
                refused[0]++;
                assertTrue(e.getMessage().contains("under two parents")
                        || e.getMessage().contains("a session can only be inherited")
                        || e.getMessage().contains("outside the tree"), e.getMessage());
                return;
            }
            if (plan.pids().contains(1)) {
                refused[0]++; // a session or group of init's, outside the tree: the restore's pid check refuses it
                return;
            }
            play(plan, tree);
        });
        // each refusal's kind is asserted above (mostly a group or session of the shell's, outside the tree, when
        // the drawn root did not setsid); this bound only catches a plan that refuses most trees
        assertTrue(refused[0] < EXAMPLES * 2 / 5, refused[0] + " of " + EXAMPLES + " random trees refused");
    }

    /** A tree as a program's life leaves it: forks, setsid, setpgid, exits, subreapers; then the dump's view. */
    static List<TreeTask> live(boolean rootSetsid, List<Integer> ops) {
        KernelModel k = new KernelModel(1);
        k.fork(1, 100);
        if (rootSetsid) {
            k.setsid(100);
        }
        int next = 101;
        for (int op : ops) {
            List<KernelModel.Proc> live = k.subtree(100).stream().filter(p -> !p.zombie).toList();
            KernelModel.Proc p = live.get((op >> 3) % live.size());
            List<KernelModel.Proc> all = k.subtree(100);
            try {
                switch (op & 7) {
                    case 0, 1 -> {
                        if (all.size() < 30) {
                            k.fork(p.pid, next++);
                        }
                    }
                    case 2 -> k.setsid(p.pid);
                    case 3 -> k.setpgid(p.pid, p.pid);
                    case 4 -> k.setpgid(p.pid, all.get((op >> 8) % all.size()).pgid);
                    case 5 -> {
                        if (p.pid != 100) {
                            int parent = p.ppid;
                            k.exit(p.pid, 0);
                            k.reap(k.get(p.pid).ppid, p.pid);
                        }
                    }
                    case 6 -> {
                        if (p.pid != 100) {
                            k.exit(p.pid, ((op >> 8) & 0xff) << 8);
                        }
                    }
                    default -> p.subreaper = true;
                }
            } catch (KernelModel.Refused e) {
                // the kernel said no; the program goes on
            }
        }
        List<TreeTask> out = new ArrayList<>();
        for (KernelModel.Proc p : k.subtree(100)) {
            TreeTask t = new TreeTask(p.pid, p.ppid, p.pgid, p.sid, List.of(p.pid),
                    p.zombie ? TaskState.DEAD : TaskState.ALIVE, p.exitCode, 0, p.subreaper);
            out.add(t);
        }
        return out;
    }

    /** Plays the plan in a fresh pid namespace and checks every task's parent, session, group and state. */
    static void play(TreePlan plan, List<TreeTask> tree) {
        KernelModel k = new KernelModel(1);
        int engine = 50;
        k.fork(1, engine);
        k.setsid(engine);
        try {
            k.play(plan, engine);
        } catch (KernelModel.Refused e) {
            throw new AssertionError("the plan fails in the kernel model: " + e.getMessage() + "\n" + plan, e);
        }
        TreeTask root = plan.root();
        Map<Integer, String> want = new TreeMap<>(), got = new TreeMap<>();
        for (TreeTask t : tree) {
            KernelModel.Proc p = k.get(t.pid());
            // the root's session and group outside the tree are the restorer's
            boolean outsideGroup = !root.groupLeader() && tree.stream().noneMatch(x -> x.pid() == root.pgid());
            int sid = t.sid() == root.sid() && !root.sessionLeader() ? k.get(engine).sid : t.sid();
            int pgid = t.pgid() == root.pgid() && outsideGroup ? k.get(engine).pgid : t.pgid();
            int ppid = t.pid() == root.pid() ? engine : t.ppid();
            want.put(t.pid(), "ppid " + ppid + " pgid " + pgid + " sid " + sid + (t.state() == TaskState.DEAD
                    ? " zombie " + t.exitCode() : ""));
            got.put(p.pid, "ppid " + p.ppid + " pgid " + p.pgid + " sid " + p.sid + (p.zombie ? " zombie "
                    + p.exitCode : ""));
        }
        assertEquals(want, got, plan.toString());
        for (int h : plan.helpers()) {
            assertTrue(!k.procs.containsKey(h), "helper " + h + " is gone");
        }
    }
}
