package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.check.NoNetworkLock;
import java.time.Duration;
import java.util.List;

/**
 * Cases with sockets. The far end is {@code sock-peer}, which the fixture starts detached: outside the
 * dumped tree, on loopback in the sandbox's own namespace. Each also checks that no nftables table of
 * Cryo's network lock is left, whatever the outcome.
 */
public final class SocketCases {
    private SocketCases() {
    }

    public static List<Case> all() {
        Duration moment = Duration.ofMillis(200);
        Scenario established = Scenario.cycles(2, moment).withOptions(List.of("--tcp-established"), List.of());
        List<Check> checks = NoNetworkLock.withStandard(Check.standard());
        return List.of(
                new Case("tcp-client", stream("tcp-client"), established, checks),
                new Case("tcp-server", stream("tcp-server"), established, checks),
                new Case("tcp-client-ipv6", stream("tcp-client", "--v6=1"), established, checks),
                new Case("tcp-server-ipv6", stream("tcp-server", "--v6=1"), established, checks),
                new Case("udp", stream("udp"), Scenario.cycles(2, moment), checks),
                // ICMP ping sockets, IPv4 and IPv6: identifiers kept, echoes answered after the restore
                new Case("ping-sockets", Fixture.quiet("ping"), Scenario.cycles(2, moment), Check.standard()),
                new Case("unix-socketpair", Fixture.quiet("unix-pair"), Scenario.cycles(2, moment), checks),
                // a pipe's read end in flight to a child, held by its sender only (the child closed its copy)
                new Case("unix-pass-to-child", Fixture.quiet("unix-pair", "--tree=1"), Scenario.cycles(2, moment),
                        checks),
                // held by no process at all, only the queue (sent, then closed): to itself, then to a child
                new Case("unix-pass-in-flight", Fixture.quiet("unix-pair", "--close=1"), Scenario.cycles(2, moment),
                        checks),
                new Case("unix-pass-in-flight-child", Fixture.quiet("unix-pair", "--tree=1", "--close=1"),
                        Scenario.cycles(2, moment), checks),
                // a connected socket in flight, bytes queued in it, its other end the sender's
                new Case("unix-pass-socket-in-flight", Fixture.quiet("unix-pair", "--tree=1", "--close=1",
                        "--pass=sock"), Scenario.cycles(2, moment), checks),
                // a unix stream connection to a peer outside the tree, as CRIU's callers do it: dumped with
                // --external unix[INO], restored with --inherit-fd fd[7]:socket:[INO], the restorer's fd 7 a new
                // connection to the same peer (made by the fixture's connect role, which runs the restore)
                new Case("unix-outside-peer", Fixture.quiet("unix-outside"), Scenario.cycles(1, moment)
                        .withOptions(List.of("--external", "unix[{file:ext-ino}]"),
                                List.of("--inherit-fd", "fd[7]:socket:[{file:ext-ino}]"))
                        .restoringVia(List.of("{build}/unix-outside", "--role=connect", "--path=@cryo-unix-outside-peer",
                                "--fd=7", "--")), checks),
                // the same with a pipe, as the stdout of `prog | tee log`: dumped as it is (CRIU needs no option),
                // restored with --inherit-fd fd[7]:pipe:[INO], the restorer's fd 7 a new pipe the peer reads
                new Case("pipe-outside-inherit", Fixture.quiet("unix-outside", "--mode=pipe"), Scenario.cycles(1, moment)
                        .withOptions(List.of(), List.of("--inherit-fd", "fd[7]:pipe:[{file:ext-ino}]"))
                        .restoringVia(List.of("{build}/unix-outside", "--role=connect", "--want=pipe",
                                "--path=@cryo-unix-outside-peer", "--fd=7", "--")), checks),
                // a regular file named by its path, as CRIU's callers replace a log: restored with
                // --inherit-fd fd[7]:PATH, the restorer's fd 7 another file (given.log), which the fixture then writes
                // to; its fd no longer names own.log, so the fds check is left out (the fixture checks the fd itself)
                new Case("file-inherit", Fixture.quiet("unix-outside", "--mode=file"), Scenario.cycles(1, moment)
                        .withOptions(List.of(), List.of("--inherit-fd", "fd[7]:{file:ext-path}"))
                        .restoringVia(List.of("{build}/unix-outside", "--role=connect", "--want=file",
                                "--path={work}/given.log", "--fd=7", "--")),
                        checks.stream().filter(c -> !(c instanceof dev.cryo.conformance.check.FdsUnchanged)).toList()),
                // the walk-through's options: the restored client sees its connection closed, reconnects and counts on
                new Case("tcp-reconnect-walkthrough", new Fixture("sock-stream", List.of("--role=tcp-client",
                        "--peer={build}/sock-peer", "--reconnect=1", "--expect-reconnect=1", "--print=1",
                        "--step-ms=10"), Fixture.Output.COUNT_LINE_BUFFERED, 10),
                        Scenario.cycles(2, moment).withOptions(List.of("--tcp-established", "-j"),
                                List.of("--tcp-close", "-j")),
                        NoNetworkLock.withStandard(Check.counting())));
    }

    private static Fixture stream(String role, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("--role=" + role, "--peer={build}/sock-peer"));
        args.addAll(List.of(more));
        return Fixture.quiet("sock-stream", args.toArray(String[]::new));
    }
}
