package dev.cryo.engine.tree;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel's rules for parents, sessions, groups and reapers, as a small model: enough to play a plan, or a
 * program's life, and check what comes out. Each refusal is the kernel's (EPERM, EEXIST, ESRCH).
 */
final class KernelModel {
    static final class Proc {
        final int pid;
        int ppid, pgid, sid;
        boolean subreaper, zombie;
        int exitCode;

        Proc(int pid, int ppid, int pgid, int sid) {
            this.pid = pid;
            this.ppid = ppid;
            this.pgid = pgid;
            this.sid = sid;
        }

        @Override
        public String toString() {
            return pid + "(ppid " + ppid + " pgid " + pgid + " sid " + sid + (zombie ? " Z" : "") + ")";
        }
    }

    static final class Refused extends RuntimeException {
        Refused(String what) {
            super(what);
        }
    }

    final Map<Integer, Proc> procs = new LinkedHashMap<>();
    final int init;

    /** A pid namespace whose init is {@code init}, in its own session and group. */
    KernelModel(int init) {
        this.init = init;
        procs.put(init, new Proc(init, 0, init, init));
    }

    Proc get(int pid) {
        Proc p = procs.get(pid);
        if (p == null) {
            throw new Refused("ESRCH: no pid " + pid);
        }
        return p;
    }

    boolean pidHeld(int pid) {
        // a pid stays held while a task, or a group or session of that id, lives
        for (Proc p : procs.values()) {
            if (p.pid == pid || p.pgid == pid || p.sid == pid) {
                return true;
            }
        }
        return false;
    }

    void fork(int parent, int pid) {
        Proc par = get(parent);
        if (par.zombie) {
            throw new Refused("zombie " + parent + " cannot fork");
        }
        if (pidHeld(pid)) {
            throw new Refused("EEXIST: pid " + pid + " is held");
        }
        procs.put(pid, new Proc(pid, parent, par.pgid, par.sid));
    }

    void setsid(int pid) {
        Proc p = get(pid);
        for (Proc q : procs.values()) {
            if (q.pgid == pid) {
                throw new Refused("EPERM: setsid in " + pid + ", which leads a group");
            }
        }
        p.sid = pid;
        p.pgid = pid;
    }

    void setpgid(int pid, int pgid) {
        Proc p = get(pid);
        if (p.sid == pid) {
            throw new Refused("EPERM: setpgid in session leader " + pid);
        }
        if (pgid != pid) {
            boolean exists = false;
            for (Proc q : procs.values()) {
                if (q.pgid == pgid && q.sid == p.sid) {
                    exists = true;
                }
            }
            if (!exists) {
                throw new Refused("EPERM: setpgid(" + pid + ", " + pgid + "): no such group in session " + p.sid);
            }
        }
        p.pgid = pgid;
    }

    /** Exits; children go to the nearest live subreaper ancestor, else init. Stays a zombie until reaped. */
    void exit(int pid, int code) {
        Proc p = get(pid);
        if (pid == init) {
            throw new Refused("init does not exit here");
        }
        int reaper = init;
        for (int a = p.ppid; a != 0 && a != init; a = get(a).ppid) {
            Proc anc = get(a);
            if (anc.subreaper && !anc.zombie) {
                reaper = a;
                break;
            }
        }
        for (Proc c : new ArrayList<>(procs.values())) {
            if (c.ppid == pid) {
                c.ppid = reaper;
            }
        }
        p.zombie = true;
        p.exitCode = code;
    }

    void reap(int parent, int pid) {
        Proc p = get(pid);
        if (!p.zombie || p.ppid != parent) {
            throw new Refused("ECHILD: " + parent + " cannot reap " + p);
        }
        procs.remove(pid);
    }

    /** {@code root} and its descendants, as a dump of the root would list them. */
    List<Proc> subtree(int root) {
        List<Proc> out = new ArrayList<>();
        out.add(get(root));
        for (int i = 0; i < out.size(); i++) {
            int p = out.get(i).pid;
            for (Proc c : procs.values()) {
                if (c.ppid == p) {
                    out.add(c);
                }
            }
        }
        return out;
    }

    /** Plays the plan as the engine would, the engine being {@code init}'s child {@code engine}. */
    void play(TreePlan plan, int engine) {
        for (PlanStep s : plan.steps()) {
            if (s instanceof PlanStep.Fork f) {
                fork(f.creator() == 0 ? engine : f.creator(), f.pid());
            } else if (s instanceof PlanStep.SetSid x) {
                setsid(x.pid());
            } else if (s instanceof PlanStep.SetPgid g) {
                setpgid(g.pid(), g.rootGroup() ? get(engine).pgid : g.pgid()); // the group the root was forked in
            } else if (s instanceof PlanStep.Subreaper r) {
                get(r.pid()).subreaper = r.on();
            } else if (s instanceof PlanStep.ExitHelper h) {
                if (get(h.pid()).ppid != h.reaper()) {
                    throw new Refused("helper " + h.pid() + "'s parent is " + get(h.pid()).ppid + ", not " + h.reaper());
                }
                exit(h.pid(), 0);
                reap(h.reaper(), h.pid());
            } else if (s instanceof PlanStep.HoldGroup h) {
                int holder = 1_000_000 + h.pgid(); // any free pid: one no tree uses
                fork(h.pid(), holder);
                if (get(holder).pgid != h.pgid()) {
                    throw new Refused("holder of group " + h.pgid() + " forked by " + h.pid() + " is in group "
                            + get(holder).pgid);
                }
            } else if (s instanceof PlanStep.ReleaseGroup h) {
                int holder = 1_000_000 + h.pgid();
                if (get(holder).ppid != h.pid()) {
                    throw new Refused("holder " + holder + "'s parent is " + get(holder).ppid + ", not " + h.pid());
                }
                exit(holder, 0);
                reap(h.pid(), holder);
            } else if (s instanceof PlanStep.BecomeZombie z) {
                exit(z.pid(), z.waitStatus());
            } else {
                get(s.pid());
            }
        }
    }
}
