package dev.cryo.engine.testing;

import dev.cryo.engine.tree.TaskState;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Tree images made from a single process's dump, for restore tests that must not wait for a tree dump: each
 * added task is a twin of the dumped process (its core, mm, pagemap and pages, fs, and fdinfo under an fd table
 * of its own, so every file it holds is one description shared with the original), or a zombie (a core with
 * its state only, as CRIU writes one). The images' checksum manifest goes: they are edited.
 */
public final class TreeImages {
    private final ImageDir dir;
    private final int original;
    private final List<pstree_entry> tree;
    private int nextId = 1000;

    private TreeImages(ImageDir dir, int original, List<pstree_entry> tree) {
        this.dir = dir;
        this.original = original;
        this.tree = tree;
    }

    public static TreeImages of(Path images) throws IOException {
        ImageDir dir = ImageDir.open(images);
        List<pstree_entry> tree = new ArrayList<>(dir.pstree());
        if (tree.size() != 1) {
            throw new IllegalArgumentException("TreeImages starts from a single process's images");
        }
        Files.deleteIfExists(images.resolve(ImageChecksums.FILE));
        return new TreeImages(dir, tree.get(0).getPid(), tree);
    }

    /** The dumped process's ids as pstree.img has them: pid, ppid, pgid, sid. */
    public int[] rootIds() {
        pstree_entry r = tree.get(0);
        return new int[]{r.getPid(), r.getPpid(), r.getPgid(), r.getSid()};
    }

    /** Adds a live (or stopped, with {@code stopSignal} != 0) twin of the dumped process. */
    public TreeImages twin(int pid, int ppid, int pgid, int sid, int stopSignal) throws IOException {
        core_entry core = dir.core(original);
        var tc = core.getTc().toBuilder();
        if (stopSignal != 0) {
            tc.setTaskState(TaskState.STOPPED.code()).setStopSigno(stopSignal);
        }
        dir.writeCore(pid, core.toBuilder().setTc(tc).build());
        dir.writeMm(pid, dir.mm(original));
        dir.writePagemap(pid, dir.pagemap(original));
        dir.writeFs(pid, dir.fs(original));
        task_kobj_ids_entry ids = dir.ids(original);
        int files = nextId++;
        dir.writeIds(pid, ids.toBuilder().setFilesId(files).setVmId(nextId++).setFsId(nextId++)
                .setSighandId(nextId++).build());
        dir.writeFdinfo(files, dir.fdinfo(ids.getFilesId()));
        return add(pid, ppid, pgid, sid);
    }

    /** Adds a zombie that exited with wait status {@code waitStatus}. */
    public TreeImages zombie(int pid, int ppid, int pgid, int sid, int waitStatus) throws IOException {
        core_entry core = dir.core(original);
        dir.writeCore(pid, core_entry.newBuilder().setMtype(core.getMtype()).setTc(core.getTc().toBuilder()
                .setTaskState(TaskState.DEAD.code()).setExitCode(waitStatus).setComm("zombie")).build());
        return add(pid, ppid, pgid, sid);
    }

    private TreeImages add(int pid, int ppid, int pgid, int sid) throws IOException {
        tree.add(pstree_entry.newBuilder().setPid(pid).setPpid(ppid).setPgid(pgid).setSid(sid).addThreads(pid).build());
        dir.writePstree(tree);
        return this;
    }

    /**
     * {@code n} pids that are free now and were freed long ago (below the last pid handed out), so that no
     * process starting meanwhile takes them.
     */
    public static List<Integer> freePids(int n) throws IOException {
        int last = Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/kernel/ns_last_pid")).get(0).strip());
        Set<Integer> out = new TreeSet<>();
        for (int p = last - 200; p > 300 && out.size() < n; p--) {
            if (!Files.exists(Path.of("/proc/" + p))) {
                out.add(p);
            }
        }
        if (out.size() < n) {
            int max = Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/kernel/pid_max")).get(0).strip());
            for (int p = max - 1; p > last + 1000 && out.size() < n; p--) {
                if (!Files.exists(Path.of("/proc/" + p))) {
                    out.add(p);
                }
            }
        }
        return new ArrayList<>(out);
    }
}
