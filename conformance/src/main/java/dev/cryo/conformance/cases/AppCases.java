package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.AppAnswers;
import dev.cryo.conformance.engine.Feature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The {@code apps} group: real programs from Debian's packages, run as their packages run them, filled and
 * judged through their own clients, dumped mid-work while a client's load runs across the dump and the
 * restore (scripts in {@code conformance/apps/}). Each needs what a plain single-threaded fixture does not:
 * a program that cannot be checkpointed yet fails with the engine's own refusal (xfail), never a skip.
 */
public final class AppCases {
    private AppCases() {
    }

    public static List<Case> all() {
        // mid-work: the load has run a second when the dump comes; its connections are open across it
        Scenario midWork = Scenario.cycles(1, Duration.ofSeconds(1))
                .withOptions(List.of("--tcp-established"), List.of("--tcp-established"));
        List<Case> cases = new ArrayList<>(List.of(
                Case.ofApp("apps-redis", new App("redis-server", "redis"), midWork, AppAnswers.forApp(false))
                        .needing(Feature.THREADS, Feature.EPOLL),
                Case.ofApp("apps-nginx", new App("nginx", "nginx"), midWork, AppAnswers.forApp(false))
                        .needing(Feature.PROCESS_TREES, Feature.EPOLL, Feature.EVENTFD),
                // a postmaster, its background processes and a backend per pgbench connection; SysV and POSIX
                // shared memory, latches on pipes and signalfd-free self-pipes, epoll
                Case.ofApp("apps-postgres", new App("postgres", "postgres"), midWork, AppAnswers.forApp(true))
                        .needing(Feature.PROCESS_TREES, Feature.EPOLL),
                Case.ofApp("apps-jvm17", jvm(jdk("17").orElse(Path.of("/usr/lib/jvm/java-17-openjdk-amd64"))),
                        midWork, AppAnswers.forApp(true)).needing(Feature.THREADS, Feature.EPOLL),
                // a connection's thread comes and goes with the connection: processes only
                Case.ofApp("apps-python-http", new App("python3 -m http.server", "python-http"), midWork,
                        AppAnswers.forApp(true)).needing(Feature.THREADS),
                Case.ofApp("apps-python-workers", new App("python3 workers.py", "python-workers"), midWork,
                        AppAnswers.forApp(true)).needing(Feature.THREADS),
                // a terminal multiplexer: the pty's master in the server, an interactive shell on its slave
                Case.ofApp("apps-tmux", new App("tmux", "tmux"), Scenario.cycles(1, Duration.ofSeconds(1)),
                        AppAnswers.forApp(false)).needing(Feature.PROCESS_TREES)));
        // the JDK 25 this machine has, if it has one (Debian 12 has no package of it: not provisioned)
        jdk("25").ifPresent(home -> cases.add(3, Case.ofApp("apps-jvm25", jvm(home), midWork, AppAnswers.forApp(true))
                .needing(Feature.THREADS, Feature.EPOLL, Feature.EVENTFD)));
        return List.copyOf(cases);
    }

    private static App jvm(Path home) {
        return new App("java (" + home.getFileName() + ")", "jvm", Map.of("JAVA", home.resolve("bin/java").toString()));
    }

    /** A JDK of that feature release under /usr/lib/jvm or /opt: the directory whose name says the version. */
    static Optional<Path> jdk(String release) {
        for (Path root : List.of(Path.of("/usr/lib/jvm"), Path.of("/opt"))) {
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (Stream<Path> homes = Files.list(root)) {
                Optional<Path> found = homes
                        .filter(h -> h.getFileName().toString().matches("(?=.*(jdk|java)).*(^|\\D)" + release + "(\\D.*)?"))
                        .filter(h -> Files.isExecutable(h.resolve("bin/java")))
                        .filter(h -> !Files.isSymbolicLink(h))
                        .min(Comparator.comparing(Path::toString));
                if (found.isPresent()) {
                    return found;
                }
            } catch (IOException e) {
                // not readable: not there for the suite
            }
        }
        return Optional.empty();
    }
}
