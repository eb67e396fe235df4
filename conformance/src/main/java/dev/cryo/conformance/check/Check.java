package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import java.nio.file.Path;
import java.util.List;

/**
 * One property a correct checkpoint/restore keeps. The runner calls each hook at its moment; a hook
 * that finds the property broken throws {@link CheckFailure}. Checks keep no state of their own:
 * whatever must be remembered between hooks goes in the {@link Run}.
 */
public interface Check {

    String name();

    /** After a dump (or pre-dump) wrote {@code imagesDir}. */
    default void afterDump(Run run, Path imagesDir) throws CheckFailure {
    }

    /** At the end of a cycle: after the restore, or after {@code dump -R} when the original goes on. */
    default void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
    }

    /** After the fixture gave its verdict (or failed to). */
    default void atEnd(Run run) throws CheckFailure {
    }

    /** After every case, passed or failed, while its sandbox is still up. */
    default void afterCase(Run run) throws CheckFailure {
    }

    /** The checks every case gets unless it says otherwise. */
    static List<Check> standard() {
        return List.of(new PidsPreserved(), new Resumes(), new MapsUnchanged(), new FdsUnchanged(),
                new SignalsUnchanged(), new ImagesSane(), new FixtureVerdict());
    }

    /** The standard checks plus {@link CounterConsecutive}, for counting fixtures. */
    static List<Check> counting() {
        List<Check> checks = new java.util.ArrayList<>(standard());
        checks.add(new CounterConsecutive());
        return List.copyOf(checks);
    }
}
