package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.engine.Feature;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** The suite's fixed cases. Adding a case is adding a line here. */
public final class Cases {
    private Cases() {
    }

    public static List<Case> all() {
        Fixture fastCounter = Fixture.counter("counter", "line", 10);
        Fixture memory = Fixture.quiet("memory", "--maps=64", "--pages=16");
        Duration second = Duration.ofSeconds(1);
        Duration halfSecond = Duration.ofMillis(500);
        Duration moment = Duration.ofMillis(200);
        return withSockets(List.of(
                // the walk-through: `./counter > out`, fully buffered, dumped mid-sleep and restored 20 times
                new Case("counter-walkthrough-20-cycles", Fixture.counter("counter", "full", 1000),
                        Scenario.cycles(20, halfSecond), Check.counting()),
                new Case("counter-line-buffered", Fixture.counter("counter", "line", 1000),
                        Scenario.cycles(2, second), Check.counting()),
                new Case("counter-fast", fastCounter, Scenario.cycles(3, moment), Check.counting()),
                new Case("counter-leave-running", fastCounter, Scenario.cycles(3, moment).leavingRunning(false),
                        Check.counting()),
                new Case("counter-O0", Fixture.counter("counter-O0", "line", 10), Scenario.cycles(2, moment),
                        Check.counting()),
                new Case("counter-O2", Fixture.counter("counter-O2", "line", 10), Scenario.cycles(2, moment),
                        Check.counting()),
                new Case("counter-static", Fixture.counter("counter-static", "line", 10), Scenario.cycles(2, moment),
                        Check.counting()),
                new Case("memory-pattern", memory, Scenario.cycles(3, moment), Check.standard()),
                new Case("memory-large", Fixture.quiet("memory", "--maps=16", "--pages=1024"),
                        Scenario.cycles(1, moment), Check.standard()),
                new Case("memory-pre-dumps", memory, Scenario.cycles(1, moment)
                        .withPreDumps(2, List.of(new PageWrite(20, 1), new PageWrite(5, 2))), Check.standard()),
                new Case("memory-leave-running-then-restore", memory, Scenario.cycles(1, moment).leavingRunning(true),
                        Check.standard()),
                new Case("signals", Fixture.quiet("signals"), Scenario.cycles(2, moment), Check.standard()),
                new Case("pipe", Fixture.quiet("pipe", "--solo=1"), Scenario.cycles(2, moment), Check.standard()),
                new Case("pipe-pair", Fixture.quiet("pipe"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                new Case("nanosleep", Fixture.quiet("nanosleep"), Scenario.cycles(2, moment), Check.standard()),
                new Case("files", Fixture.quiet("files"), Scenario.cycles(2, moment), Check.standard()),
                new Case("threads", Fixture.quiet("threads"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.THREADS),
                // every thread in its own state, checking itself: TLS counter with its own mask, altstack and a
                // pending pthread_kill signal; condvar, nanosleep, pipe read, spinning, robust mutex holder
                new Case("threads-states", Fixture.quiet("threads-state", "--states=cvnrsmcu"), Scenario.cycles(2, moment),
                        Check.standard()).needing(Feature.THREADS),
                new Case("threads-states-leave-running", Fixture.quiet("threads-state", "--states=cvnrsm"),
                        Scenario.cycles(2, moment).leavingRunning(false), Check.standard()).needing(Feature.THREADS),
                new Case("threads-states-pre-dumps", Fixture.quiet("threads-state", "--states=cvnrsm"),
                        Scenario.cycles(1, moment).withPreDumps(2, List.of()), Check.standard()).needing(Feature.THREADS),
                new Case("threads-1", Fixture.quiet("threads-state", "--threads=1"), Scenario.cycles(2, moment),
                        Check.standard()).needing(Feature.THREADS),
                new Case("threads-2", Fixture.quiet("threads-state", "--threads=2"), Scenario.cycles(2, moment),
                        Check.standard()).needing(Feature.THREADS),
                new Case("threads-64", Fixture.quiet("threads-state", "--threads=64"), Scenario.cycles(2, moment),
                        Check.standard()).needing(Feature.THREADS),
                new Case("threads-500", Fixture.quiet("threads-state", "--threads=500"), Scenario.cycles(1, moment),
                        Check.standard()).needing(Feature.THREADS),
                // threads stopped mid-loop with values in zmm8-31 and k1-k7 (ymm8-15 without AVX-512)
                new Case("xstate", Fixture.quiet("xstate", "--threads=3"), Scenario.cycles(2, moment),
                        Check.standard()).needing(Feature.THREADS),
                // a JVM: a thread pool prints 0, 1, 2, ... with a 256 MiB heap; nothing missing or repeated
                new Case("jvm17-thread-pool", jvm(Path.of("/usr/lib/jvm/java-17-openjdk-amd64")),
                        Scenario.cycles(2, second), jvmChecks()).needing(Feature.THREADS),
                // ZGC: the heap is a memfd held open and mapped three times (its colored-pointer views), and the JVM
                // maps more of it as the heap grows, so its maps change between Cryo's first look and the freeze
                new Case("jvm17-zgc", jvm(Path.of("/usr/lib/jvm/java-17-openjdk-amd64"), "-XX:+UseZGC"),
                        Scenario.cycles(2, second), jvmChecks()).needing(Feature.THREADS),
                new Case("forktree", Fixture.quiet("forktree"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // trees: sessions, groups, dead leaders, a zombie and a stopped child; an fd shared across fork
                new Case("sessions", Fixture.quiet("sessions"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                new Case("shared-fd", Fixture.quiet("shared-fd"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // shared anonymous and /dev/zero memory that parent and child both write after the restore
                new Case("shmem-tree", Fixture.quiet("shmem-tree"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // incremental dumps of trees: each task's pagemap on its own parent, its own tracker; the tasks keep
                // rewriting private pages (copy-on-write shared at first) and counting in shared memory meanwhile
                new Case("forktree-pre-dumps", Fixture.quiet("forktree", "--pages=64"),
                        Scenario.cycles(1, moment).withPreDumps(2, List.of()), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                new Case("shmem-tree-pre-dumps", Fixture.quiet("shmem-tree", "--tick-ms=20"),
                        Scenario.cycles(2, moment).withPreDumps(2, List.of()), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // a shell with a real pipeline, dumped from the shell: bash, its loop's subshell and cat joined by a
                // pipe; the numbers go on through cat with none missing or repeated. The loop waits on a FIFO of its
                // own (no child), so every pid of the tree stays; the second waits with sleep, as people write it
                new Case("bash-pipeline", bashPipeline("read -t 0.3 -u 3", true), Scenario.cycles(2, second),
                        Check.counting()).needing(Feature.PROCESS_TREES),
                new Case("bash-pipeline-sleep", bashPipeline("sleep 0.3", false), Scenario.cycles(2, second),
                        outputChecks()).needing(Feature.PROCESS_TREES),
                // and incrementally: between the pre-dumps and the dump a `sleep` is born (dumped in full), another
                // is gone (its pagemap in the parent images is not looked at)
                new Case("bash-pipeline-sleep-pre-dumps", bashPipeline("sleep 0.3", false),
                        Scenario.cycles(2, second).withPreDumps(2, List.of()), outputChecks())
                        .needing(Feature.PROCESS_TREES),
                new Case("tcp-loopback", Fixture.quiet("tcp-client", "--spawn-server={build}/tcp-server"),
                        Scenario.cycles(1, moment).withOptions(List.of("--tcp-established"), List.of("--tcp-established")),
                        Check.standard()).needing(Feature.PROCESS_TREES),
                // half-closed connections between parent and child, IPv4 and IPv6: the client shut down its writing
                // (FIN_WAIT2), the server has not (CLOSE_WAIT); each side reads its bytes, and the end where it came
                new Case("tcp-half-closed", Fixture.quiet("tcp-halfclosed"), Scenario.cycles(2, moment)
                        .withOptions(List.of("--tcp-established"), List.of("--tcp-established")), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // a tree in network, uts and ipc namespaces of its own (unshare -n -u -i): lo, the host name, a SysV
                // segment, TCP between parent and child over lo and an abstract unix name, in the new namespaces
                new Case("own-namespaces", Fixture.quiet("ownns"), Scenario.cycles(2, moment)
                        .withOptions(List.of("--tcp-established"), List.of("--tcp-established")), Check.standard())
                        .needing(Feature.PROCESS_TREES)));
    }

    /** {@link dev.cryo.conformance.fixtures.JvmCounter} on the JDK at {@code home}, from the suite's own classes. */
    static Fixture jvm(Path home, String... vmOptions) {
        List<String> args = new java.util.ArrayList<>(List.of("_JAVA_SR_SIGNUM=40", home.resolve("bin/java").toString(),
                "-Xms256m", "-Xmx256m"));
        args.addAll(List.of(vmOptions));
        args.addAll(List.of("-cp", "{build}/../../conformance/target/classes",
                "dev.cryo.conformance.fixtures.JvmCounter", "--threads=8", "--data-mib=128", "--step-ms=20"));
        return new Fixture("/usr/bin/env", args, Fixture.Output.COUNT_LINE_BUFFERED, 20);
    }

    /**
     * The counting checks but the maps comparison: a running JVM's malloc arenas and heap grow between the harness's
     * maps probe and the freeze, so the probe before the dump is not the process dumped.
     */
    static List<Check> jvmChecks() {
        return Check.counting().stream().filter(c -> !(c instanceof dev.cryo.conformance.check.MapsUnchanged)).toList();
    }

    /**
     * {@code bash -c}: a loop counting 0, 1, 2, ... every 0.3 s ({@code pause}), piped through {@code cat} into the
     * fixture's stdout, started in the background beside a root shell that waits for it; the fixture protocol in
     * shell (the ready marker with the root's pid; on SIGUSR2, PASS if the pipeline still runs). With
     * {@code fifo} the loop first opens a FIFO of its own as fd 3 (for {@code read -t}).
     */
    static Fixture bashPipeline(String pause, boolean fifo) {
        String script = "trap 'if kill -0 $! 2>/dev/null; then r=PASS; else r=\"FAIL: the pipeline is gone\"; fi; "
                + "echo \"$r\" >\"$CRYO_FX_RESULT.tmp\"; mv -f \"$CRYO_FX_RESULT.tmp\" \"$CRYO_FX_RESULT\"; exit 0' USR2\n"
                + (fifo ? "rm -f tick; mkfifo tick\n" : "")
                + "{ " + (fifo ? "exec 3<>tick; " : "") + "i=0; while :; do echo $i; i=$((i+1)); " + pause
                + "; done; } | cat &\n"
                + "echo $$ >\"$CRYO_FX_READY.tmp\"; mv -f \"$CRYO_FX_READY.tmp\" \"$CRYO_FX_READY\"\n"
                + "while :; do wait $!; kill -0 $! 2>/dev/null || sleep 1; done\n";
        return new Fixture("/bin/bash", List.of("-c", script), Fixture.Output.COUNT_LINE_BUFFERED, 300);
    }

    /**
     * The output's continuity, the verdict, nothing left stopped and sane images, but not the comparisons of /proc
     * before and after: a tree whose short-lived children (a loop's {@code sleep}) come and go between the harness's
     * look and the freeze is not the tree dumped.
     */
    static List<Check> outputChecks() {
        return List.of(new dev.cryo.conformance.check.Resumes(), new dev.cryo.conformance.check.ImagesSane(),
                new dev.cryo.conformance.check.FixtureVerdict(), new dev.cryo.conformance.check.CounterConsecutive());
    }

    /** An installed JDK 25 (under /usr/lib/jvm or /opt), if any. */
    static java.util.Optional<Path> jdk25() {
        for (Path root : List.of(Path.of("/usr/lib/jvm"), Path.of("/opt"))) {
            try (var dirs = java.nio.file.Files.list(root)) {
                var found = dirs.filter(d -> d.getFileName().toString().matches("(.*[^0-9])?25([^0-9].*)?")
                        && java.nio.file.Files.isExecutable(d.resolve("bin/java"))).sorted().findFirst();
                if (found.isPresent()) {
                    return found;
                }
            } catch (java.io.IOException e) {
                // no such root
            }
        }
        return java.util.Optional.empty();
    }

    private static List<Case> withSockets(List<Case> base) {
        List<Case> all = new java.util.ArrayList<>(base);
        jdk25().ifPresent(home -> all.add(new Case("jvm25-thread-pool", jvm(home), Scenario.cycles(2, Duration.ofSeconds(1)),
                jvmChecks()).needing(Feature.THREADS)));
        all.addAll(SocketCases.all());
        all.addAll(FdCases.all());
        all.addAll(MemoryCases.all());
        all.addAll(AppCases.all());
        return List.copyOf(all);
    }
}
