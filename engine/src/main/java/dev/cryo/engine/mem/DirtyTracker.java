package dev.cryo.engine.mem;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.MapsEntry;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One way of learning which pages a process wrote between two dumps. A tracker is {@linkplain #arm armed} while
 * the process is frozen at the end of one dump, and asked for the {@linkplain #written written} pages while it
 * is frozen in the next, possibly in another {@code cryo} run: what it needs to carry over goes into the images
 * directory ({@link #save}) and comes back as the {@code previous} state it is made with. Every answer may
 * over-approximate, never under-approximate: a page it cannot vouch for is written.
 */
public interface DirtyTracker {
    /** The name {@code cryo check}, the logs and the track state file use. */
    String name();

    /**
     * While the target is frozen: the pages inside {@code tracked} (VMAs armed by the previous dump and unchanged
     * since) written since then. Pages outside {@code tracked} are not asked about.
     *
     * @param own the pages the dump saves (present or swapped, not clean file pages)
     */
    PageRanges written(TrackedTarget target, PageRanges own, List<MapsEntry> tracked) throws CryoException;

    /**
     * While the target is frozen, after its memory was read: starts tracking writes from now on.
     *
     * @return the VMAs now tracked; the others count as wholly written in the next dump
     */
    List<MapsEntry> arm(TrackedTarget target, List<MapsEntry> vmas, PageRanges own) throws CryoException;

    /**
     * After {@link #arm}, once the target runs on again (what was armed while frozen counts from the freeze): keeps
     * what the next dump needs, in {@code dir} or elsewhere; returns entries for the track state file.
     */
    Map<String, String> save(Path dir) throws CryoException;

    /** The dump went through and the target runs on (or died): let go of what the previous arming held. */
    default void commit() {
    }

    /** The dump failed: undo whatever {@link #arm} set up, leaving the target as it was. */
    default void abort() {
    }

    /** VMAs a tracker follows: the process's own private memory; the kernel's special mappings are not. */
    static boolean trackable(MapsEntry m) {
        return !m.shared() && !m.isKernelSpecial();
    }
}
