package dev.cryo.engine.tree;

import dev.cryo.engine.CryoException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * How a dumped process tree is rebuilt, worked out before anything forks: which task forks which (helpers stand
 * in for dead session and group leaders), in what order sessions and groups are made, when helpers exit, which
 * tasks become zombies and which stay stopped. Pure: built from pstree.img and the cores' states, printable and
 * testable without the kernel; the restore runs its {@link #steps()} in order.
 *
 * <p>The kernel's rules it follows: {@code setsid} must come before a task leads a group; a session cannot be
 * joined, only inherited by fork, so every task is forked by a task of its own session (or by a helper that took the
 * dead leader's session id), and a session leader that forked children before its {@code setsid} (they stayed in
 * the session it left) forks them again before it; a group can be joined only while it exists and only from its
 * session; a task orphaned by an exiting helper goes to its nearest subreaper.
 */
public final class TreePlan {
    private final TreeTask root;
    private final Map<Integer, TreeTask> tasks;   // by pid, in creation order
    private final Map<Integer, Integer> creator;  // pid (task or helper) -> the pid that forks it; 0 = the engine
    private final Set<Integer> helpers;           // pids of helper tasks, in creation order
    private final List<Integer> order;            // every pid, tasks and helpers, in creation order
    private final List<PlanStep> steps;

    private TreePlan(TreeTask root, Map<Integer, TreeTask> tasks, Map<Integer, Integer> creator, Set<Integer> helpers,
                     List<Integer> order, List<PlanStep> steps) {
        this.root = root;
        this.tasks = tasks;
        this.creator = creator;
        this.helpers = helpers;
        this.order = order;
        this.steps = steps;
    }

    /** The root: the task {@code dump -t} named, forked by the engine. */
    public TreeTask root() {
        return root;
    }

    /** The tree's tasks (no helpers), parents before children. */
    public List<TreeTask> tasks() {
        return List.copyOf(tasks.values());
    }

    public TreeTask task(int pid) {
        return tasks.get(pid);
    }

    /** Pids of the helpers the restore makes and ends, in creation order. */
    public List<Integer> helpers() {
        return List.copyOf(helpers);
    }

    /** The task (or helper) that forks {@code pid}; 0 for the root. */
    public int creatorOf(int pid) {
        Integer c = creator.get(pid);
        if (c == null) {
            throw new IllegalArgumentException("pid " + pid + " is not in the plan");
        }
        return c;
    }

    /** Every pid and tid the restore takes, helpers included: all must be free before anything forks. */
    public Set<Integer> pids() {
        Set<Integer> out = new TreeSet<>();
        for (TreeTask t : tasks.values()) {
            out.add(t.pid());
            out.addAll(t.threads());
        }
        out.addAll(helpers);
        return out;
    }

    public List<PlanStep> steps() {
        return steps;
    }

    /** One step a line, as the -v4 log and tests show the plan. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        for (PlanStep s : steps) {
            b.append(s).append('\n');
        }
        return b.toString();
    }

    /**
     * The plan for a tree.
     *
     * @param shellJob the root's session is the restorer's (CRIU's {@code --shell-job}): the root does not
     *                 {@code setsid} even where it led its session
     */
    public static TreePlan of(List<TreeTask> entries, boolean shellJob) throws CryoException {
        Map<Integer, TreeTask> byPid = new HashMap<>();
        for (TreeTask t : entries) {
            if (byPid.put(t.pid(), t) != null) {
                throw refuse("pid " + t.pid() + " appears twice in pstree.img");
            }
        }
        if (byPid.isEmpty()) {
            throw refuse("pstree.img holds no process");
        }
        TreeTask root = null;
        for (TreeTask t : entries) {
            if (!byPid.containsKey(t.ppid())) {
                if (root != null) {
                    throw refuse("pstree.img holds two roots, pids " + root.pid() + " and " + t.pid());
                }
                root = t;
            }
        }
        if (root == null) {
            throw refuse("pstree.img has no root (every parent is in the tree: a cycle)");
        }
        Map<Integer, List<TreeTask>> children = new HashMap<>();
        for (TreeTask t : entries) {
            if (t != root) {
                children.computeIfAbsent(t.ppid(), k -> new ArrayList<>()).add(t);
            }
        }
        children.values().forEach(l -> l.sort(Comparator.comparingInt(TreeTask::pid)));
        for (TreeTask t : entries) {
            if (t.state() == TaskState.HELPER) {
                throw refuse("pid " + t.pid() + " is a helper in pstree.img; a dump holds no helpers");
            }
            if (t.state() == TaskState.DEAD && children.containsKey(t.pid())) {
                throw refuse("zombie " + t.pid() + " has children in pstree.img; a zombie's children are "
                        + "reparented when it exits");
            }
        }
        // parents before children; anything not reached from the root sits in a cycle
        List<TreeTask> byDepth = new ArrayList<>();
        byDepth.add(root);
        for (int i = 0; i < byDepth.size(); i++) {
            byDepth.addAll(children.getOrDefault(byDepth.get(i).pid(), List.of()));
        }
        if (byDepth.size() != entries.size()) {
            throw refuse("pstree.img's parent links do not form one tree (" + (entries.size() - byDepth.size())
                    + " tasks are not descendants of root " + root.pid() + ")");
        }
        return new Builder(root, byPid, children, shellJob).build();
    }

    private static CryoException refuse(String why) {
        return new CryoException("cannot restore the process tree: " + why);
    }

    /** Works out creators, helpers and steps. */
    private static final class Builder {
        final TreeTask root;
        final Map<Integer, TreeTask> byPid;
        final Map<Integer, List<TreeTask>> children;
        final boolean rootSetsid;
        final int outsideSession, outsideGroup; // ids of the root's session and group when they are not the tree's
        final Map<Integer, Integer> creator = new HashMap<>();
        final Map<Integer, Integer> sessionHelpers = new TreeMap<>(); // sid -> the task whose children they are
        final Map<Integer, Integer> groupHelpers = new TreeMap<>();   // pgid -> its creator
        final Map<Integer, List<Integer>> created = new HashMap<>();  // creator -> helpers first, then tasks
        final Set<Integer> movers = new TreeSet<>(); // tasks that make their own group for others, then leave it
        /**
         * The session a task must be born in, where it is not its own: a session leader's that forked children before
         * its setsid, which stayed in the session it left (the parent's, or one the parent was born in likewise).
         */
        final Map<Integer, Integer> bornIn = new HashMap<>();
        /** The session each task (or helper) is in when forked, as the plan makes it. */
        final Map<Integer, Integer> born = new HashMap<>();
        /** Tasks their parent forks before its setsid. */
        final Set<Integer> early = new TreeSet<>();

        Builder(TreeTask root, Map<Integer, TreeTask> byPid, Map<Integer, List<TreeTask>> children, boolean shellJob) {
            this.root = root;
            this.byPid = byPid;
            this.children = children;
            this.rootSetsid = root.sessionLeader() && !shellJob;
            this.outsideSession = rootSetsid ? -1 : root.sid();
            // a root may have joined a group of its own descendant's, which the tree rebuilds
            this.outsideGroup = root.groupLeader() || byPid.containsKey(root.pgid()) ? -1 : root.pgid();
        }

        /** The session a creator is in once it is made: its own id if it is a session helper. */
        int sessionOf(int pid) {
            if (sessionHelpers.containsKey(pid)) {
                return pid;
            }
            if (groupHelpers.containsKey(pid)) {
                return sessionOf(creator.get(pid));
            }
            return byPid.get(pid).sid();
        }

        TreePlan build() throws CryoException {
            sessionsAtBirth();
            creator.put(root.pid(), 0);
            born.put(root.pid(), root.sid());
            List<TreeTask> all = new ArrayList<>();
            all.add(root);
            for (int i = 0; i < all.size(); i++) {
                for (TreeTask c : children.getOrDefault(all.get(i).pid(), List.of())) {
                    creator.put(c.pid(), creatorOf(c));
                    all.add(c);
                }
            }
            planGroups(all);
            for (TreeTask t : all) {
                if (t != root) {
                    created.computeIfAbsent(creator.get(t.pid()), k -> new ArrayList<>()).add(t.pid());
                }
            }
            for (Map.Entry<Integer, Integer> h : sessionHelpers.entrySet()) {
                creator.put(h.getKey(), h.getValue());
                created.computeIfAbsent(h.getValue(), k -> new ArrayList<>()).add(0, h.getKey());
            }
            for (Map.Entry<Integer, Integer> h : groupHelpers.entrySet()) {
                creator.put(h.getKey(), h.getValue());
                List<Integer> l = created.computeIfAbsent(h.getValue(), k -> new ArrayList<>());
                int at = 0;
                while (at < l.size() && sessionHelpers.containsKey(l.get(at))) {
                    at++; // session helpers first: their setsid comes before anything else the creator makes
                }
                l.add(at, h.getKey());
            }
            for (List<Integer> l : created.values()) {
                // the children a leader forks before its setsid come first, right after its session helpers
                List<Integer> first = new ArrayList<>(l.stream().filter(early::contains).toList());
                if (!first.isEmpty()) {
                    l.removeAll(first);
                    int at = 0;
                    while (at < l.size() && sessionHelpers.containsKey(l.get(at))) {
                        at++;
                    }
                    l.addAll(at, first);
                }
            }
            List<Integer> order = new ArrayList<>();
            walk(root.pid(), order);
            return new TreePlan(root, orderedTasks(order), creator, helperSet(order), List.copyOf(order),
                    Collections.unmodifiableList(steps(order)));
        }

        /**
         * {@link #bornIn}, from the leaves up: a task that does not lead its session is born in it; a leader (not
         * the root, which the engine forks) is born where its children that are not in its own session must be,
         * when that is one session whose leader is in the tree, or the root's outside it (a dead leader's session
         * is a helper's to start).
         */
        private void sessionsAtBirth() {
            List<TreeTask> byDepth = new ArrayList<>();
            byDepth.add(root);
            for (int i = 0; i < byDepth.size(); i++) {
                byDepth.addAll(children.getOrDefault(byDepth.get(i).pid(), List.of()));
            }
            for (int i = byDepth.size() - 1; i > 0; i--) {
                TreeTask t = byDepth.get(i);
                if (!t.sessionLeader()) {
                    bornIn.put(t.pid(), t.sid());
                    continue;
                }
                Set<Integer> before = new TreeSet<>();
                for (TreeTask c : children.getOrDefault(t.pid(), List.of())) {
                    Integer b = bornIn.get(c.pid());
                    if (b != null && b != t.sid() && (byPid.containsKey(b) || b == outsideSession)) {
                        before.add(b);
                    }
                }
                if (before.size() == 1) {
                    bornIn.put(t.pid(), before.iterator().next());
                }
            }
        }

        private int creatorOf(TreeTask t) throws CryoException {
            TreeTask parent = byPid.get(t.ppid());
            Integer want = bornIn.get(t.pid());
            if (want != null && want != parent.sid() && parent != root && setsid(parent.pid())
                    && want.equals(born.get(parent.pid()))) {
                early.add(t.pid()); // forked while its parent is still in the session it is about to leave
                born.put(t.pid(), want);
                return parent.pid();
            }
            born.put(t.pid(), parent.sid());
            if (t.sessionLeader() || parent.sid() == t.sid()
                    || (parent == root && !rootSetsid && t.sid() == outsideSession)) {
                return parent.pid();
            }
            boolean leaderInTree = byPid.containsKey(t.sid());
            if (!leaderInTree && t.sid() != outsideSession) {
                // a dead session leader: a helper with its pid starts the session and forks its members
                Integer had = sessionHelpers.putIfAbsent(t.sid(), parent.pid());
                if (had != null && had != parent.pid()) {
                    throw refuse("session " + t.sid() + " (its leader is gone) has members under two parents, "
                            + had + " and " + parent.pid() + "; Cryo rebuilds a dead leader's session under one");
                }
                born.put(t.pid(), t.sid());
                return t.sid();
            }
            throw refuse("pid " + t.pid() + " is in session " + t.sid() + " but its parent " + parent.pid()
                    + " is in session " + parent.sid() + (leaderInTree ? ", and leader " + t.sid()
                    + " lives in the tree" : ", the root's session outside the tree")
                    + "; a session can only be inherited from a parent of the same session");
        }

        private void planGroups(List<TreeTask> all) throws CryoException {
            Map<Integer, List<TreeTask>> members = new LinkedHashMap<>();
            for (TreeTask t : all) {
                members.computeIfAbsent(t.pgid(), k -> new ArrayList<>()).add(t);
            }
            for (Map.Entry<Integer, List<TreeTask>> g : members.entrySet()) {
                int pgid = g.getKey();
                List<TreeTask> in = g.getValue();
                int sid;
                if (byPid.containsKey(pgid)) {
                    TreeTask leader = byPid.get(pgid);
                    sid = leader.sid();
                    if (!leader.groupLeader()) {
                        movers.add(pgid); // it left the group it made; it makes it again, then leaves
                    }
                } else if (pgid == outsideGroup) {
                    sid = root.sid();
                } else if (sessionHelpers.containsKey(pgid)) {
                    sid = pgid;
                } else if (pgid == outsideSession) {
                    throw refuse("pid " + in.get(0).pid() + " is in group " + pgid + ", which leads the root's "
                            + "session outside the tree; Cryo cannot join a group outside the tree");
                } else {
                    // a dead group leader: a helper with its pid makes the group, beside the first member
                    int by = creator.get(in.get(0).pid());
                    if (by == 0) {
                        throw refuse("group " + pgid + " of root " + root.pid() + " has no leader in the tree");
                    }
                    groupHelpers.put(pgid, by);
                    creator.put(pgid, by);
                    sid = sessionOf(by);
                    if (early.contains(in.get(0).pid())) {
                        early.add(pgid); // beside a member its creator forks before its setsid: in the session left
                        sid = born.get(in.get(0).pid());
                    }
                }
                for (TreeTask t : in) {
                    if (t.sid() != sid) {
                        throw refuse("pid " + t.pid() + " is in group " + pgid + " and session " + t.sid()
                                + ", but the group belongs to session " + sid);
                    }
                }
            }
        }

        private void walk(int pid, List<Integer> order) {
            order.add(pid);
            for (int c : created.getOrDefault(pid, List.of())) {
                walk(c, order);
            }
        }

        private Map<Integer, TreeTask> orderedTasks(List<Integer> order) {
            Map<Integer, TreeTask> out = new LinkedHashMap<>();
            for (int p : order) {
                if (byPid.containsKey(p)) {
                    out.put(p, byPid.get(p));
                }
            }
            return Collections.unmodifiableMap(out);
        }

        private Set<Integer> helperSet(List<Integer> order) {
            Set<Integer> out = new LinkedHashSet<>();
            for (int p : order) {
                if (!byPid.containsKey(p)) {
                    out.add(p);
                }
            }
            return Collections.unmodifiableSet(out);
        }

        private boolean setsid(int pid) {
            if (sessionHelpers.containsKey(pid)) {
                return true;
            }
            TreeTask t = byPid.get(pid);
            return t != null && t.sessionLeader() && (t != root || rootSetsid);
        }

        /**
         * The leaders that left their groups leave them again, each once another member is in its group (a group
         * with none is gone, and a member could not join it after): first those whose groups a task that stays has
         * joined, then those whose members were leaders that have since moved in. Where every waiting leader's
         * members are waiting leaders (100 in 111's group, 111 in 100's), the first forks a holder that keeps its
         * group while it leaves; holders exit once all have moved. A group a leader joins is never empty: it is
         * made before, and only left with a member in it.
         */
        private void moveLeaders(List<PlanStep> s) {
            Map<Integer, Integer> others = new HashMap<>(); // mover -> members in its group now, besides itself
            for (TreeTask t : byPid.values()) {
                if (movers.contains(t.pgid()) && !movers.contains(t.pid())) {
                    others.merge(t.pgid(), 1, Integer::sum);
                }
            }
            List<Integer> waiting = new ArrayList<>(movers);
            List<Integer> held = new ArrayList<>();
            while (!waiting.isEmpty()) {
                int next = waiting.stream().filter(m -> others.getOrDefault(m, 0) > 0).findFirst().orElse(-1);
                if (next == -1) {
                    next = waiting.get(0);
                    s.add(new PlanStep.HoldGroup(next, next));
                    held.add(next);
                }
                waiting.remove(Integer.valueOf(next));
                TreeTask t = byPid.get(next);
                s.add(new PlanStep.SetPgid(next, t.pgid(), t.pgid() == outsideGroup));
                others.merge(t.pgid(), 1, Integer::sum);
            }
            for (int h : held) {
                s.add(new PlanStep.ReleaseGroup(h, h));
            }
        }

        private List<PlanStep> steps(List<Integer> order) {
            List<PlanStep> s = new ArrayList<>();
            // forks, each session leader's setsid right after its own fork (before it has children), or after the
            // fork of its last child that stays in the session it leaves
            Map<Integer, Integer> lastEarly = new HashMap<>();
            for (int p : order) {
                if (early.contains(p)) {
                    lastEarly.put(creator.get(p), p);
                }
            }
            for (int p : order) {
                s.add(new PlanStep.Fork(creator.get(p), p, !byPid.containsKey(p)));
                if (early.contains(p) && lastEarly.get(creator.get(p)) == p) {
                    s.add(new PlanStep.SetSid(creator.get(p)));
                }
                if (setsid(p) && !lastEarly.containsKey(p)) {
                    s.add(new PlanStep.SetSid(p));
                }
                TreeTask t = byPid.get(p);
                if (t != null && t.subreaper()) {
                    s.add(new PlanStep.Subreaper(p, true));
                }
            }
            // groups: every group made first, then joined; a leader that left its group leaves last
            for (int p : order) {
                if (setsid(p)) {
                    continue;
                }
                TreeTask t = byPid.get(p);
                boolean leads = t == null ? groupHelpers.containsKey(p) : t.groupLeader() || movers.contains(p);
                if (leads) {
                    s.add(new PlanStep.SetPgid(p, p, false));
                }
            }
            for (int p : order) {
                TreeTask t = byPid.get(p);
                if (t == null || setsid(p) || t.groupLeader() || movers.contains(p) || t.pgid() == outsideGroup) {
                    continue; // a task of the root's group outside the tree is in it since its fork (forks come first)
                }
                s.add(new PlanStep.SetPgid(p, t.pgid(), t.pgid() == outsideGroup));
            }
            moveLeaders(s);
            // helpers go, deepest first; a session helper's children fall to its parent, made a subreaper for it
            Set<Integer> reapers = new TreeSet<>();
            for (int reaper : sessionHelpers.values()) {
                if (!byPid.get(reaper).subreaper()) {
                    reapers.add(reaper);
                }
            }
            reapers.forEach(r -> s.add(new PlanStep.Subreaper(r, true)));
            List<Integer> reversed = new ArrayList<>(order);
            Collections.reverse(reversed);
            for (int p : reversed) {
                if (!byPid.containsKey(p)) {
                    s.add(new PlanStep.ExitHelper(p, creator.get(p)));
                }
            }
            reapers.forEach(r -> s.add(new PlanStep.Subreaper(r, false)));
            // every task becomes its image, then zombies exit, then all go on
            for (int p : order) {
                TreeTask t = byPid.get(p);
                if (t != null && t.state() != TaskState.DEAD) {
                    s.add(new PlanStep.Build(p));
                }
            }
            for (int p : order) {
                TreeTask t = byPid.get(p);
                if (t != null && t.state() == TaskState.DEAD) {
                    s.add(new PlanStep.BecomeZombie(p, t.exitCode()));
                }
            }
            for (int p : order) {
                TreeTask t = byPid.get(p);
                if (t != null && t.state() != TaskState.DEAD) {
                    s.add(new PlanStep.Resume(p, t.state() == TaskState.STOPPED ? t.stopSignal() : 0));
                }
            }
            return s;
        }
    }
}
