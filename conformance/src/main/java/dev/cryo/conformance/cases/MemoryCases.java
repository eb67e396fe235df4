package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import java.time.Duration;
import java.util.List;

/**
 * Cases with shared memory and mapping flags, in one process: the {@code shmem} fixture checks every page of every
 * object, that each object's views are still one object, and what else its {@code --with} list names.
 */
public final class MemoryCases {
    private MemoryCases() {
    }

    public static List<Case> all() {
        Duration moment = Duration.ofMillis(200);
        return List.of(
                // MAP_SHARED|MAP_ANONYMOUS with a second view and a piece moved away; /dev/zero mapped shared twice
                new Case("shmem-anon", Fixture.quiet("shmem", "--with=anon,zero"), Scenario.cycles(2, moment),
                        Check.standard()),
                new Case("shmem-anon-pre-dumps", Fixture.quiet("shmem", "--with=anon,zero"), Scenario.cycles(1, moment)
                        .withPreDumps(2, List.of(new PageWrite(6, 1), new PageWrite(4, 2))), Check.standard()),
                new Case("shmem-anon-leave-running", Fixture.quiet("shmem", "--with=anon,zero"),
                        Scenario.cycles(1, moment).leavingRunning(true), Check.standard()),
                // a sealed memfd mapped shared twice and privately, its fd closed
                new Case("shmem-memfd", Fixture.quiet("shmem", "--with=memfd"), Scenario.cycles(2, moment),
                        Check.standard()),
                // a regular file and a POSIX shm file (/dev/shm) mapped shared: the pages stay in the files
                new Case("shmem-files", Fixture.quiet("shmem", "--with=file,devshm"), Scenario.cycles(2, moment),
                        Check.standard()),
                // MADV_HUGEPAGE, MADV_DONTFORK, MADV_WIPEONFORK, ... on private and shared mappings
                new Case("madvise-flags", Fixture.quiet("shmem", "--with=madvise"), Scenario.cycles(2, moment),
                        Check.standard()));
    }
}
