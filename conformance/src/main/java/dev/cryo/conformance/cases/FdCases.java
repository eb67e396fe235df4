package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.engine.Feature;

import java.time.Duration;
import java.util.List;

/** Cases for the kernel objects a process holds as fds beyond files, pipes and sockets (issue 13). */
public final class FdCases {
    private FdCases() {
    }

    public static List<Case> all() {
        Duration moment = Duration.ofMillis(200);
        return List.of(
                new Case("eventfd", Fixture.quiet("eventfd"), Scenario.cycles(2, moment), Check.standard()),
                new Case("epoll", Fixture.quiet("epoll"), Scenario.cycles(2, moment), Check.standard()),
                new Case("timerfd", Fixture.quiet("timerfd"), Scenario.cycles(2, moment), Check.standard()),
                new Case("signalfd", Fixture.quiet("signalfd"), Scenario.cycles(2, moment), Check.standard()),
                new Case("inotify", Fixture.quiet("inotify"), Scenario.cycles(2, moment), Check.standard()),
                new Case("timers", Fixture.quiet("timers"), Scenario.cycles(2, moment), Check.standard()),
                new Case("sigio", Fixture.quiet("sigio"), Scenario.cycles(2, moment), Check.standard()),
                // files unlinked while open or mapped: ghosts (contents in the images), link remaps (--link-remap)
                new Case("deleted-files", Fixture.quiet("deleted-files"), Scenario.cycles(2, moment), Check.standard()),
                new Case("link-remap", Fixture.quiet("deleted-files", "--mode=link"),
                        Scenario.cycles(2, moment).withOptions(List.of("--link-remap"), List.of()), Check.standard()),
                new Case("memfd-fd", Fixture.quiet("memfd-fd"), Scenario.cycles(2, moment), Check.standard()),
                new Case("opath", Fixture.quiet("opath"), Scenario.cycles(2, moment), Check.standard()),
                new Case("devices", Fixture.quiet("devices"), Scenario.cycles(2, moment), Check.standard()),
                new Case("file-locks", Fixture.quiet("file-locks"),
                        Scenario.cycles(2, moment).withOptions(List.of("--file-locks"), List.of("--file-locks")),
                        Check.standard()),
                new Case("fifo", Fixture.quiet("fifo"), Scenario.cycles(2, moment), Check.standard()),
                // pidfds: of children (CLONE_PIDFD, pidfd_open), of itself, of a zombie, of a reaped child
                new Case("pidfd", Fixture.quiet("pidfd"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.PROCESS_TREES),
                // not an fd, but issue 13's too: the prctl flags /proc does not show
                new Case("task-flags", Fixture.quiet("task-flags"), Scenario.cycles(2, moment), Check.standard()),
                // seccomp: filters shared through TSYNC (one with SECCOMP_FILTER_FLAG_LOG), a thread's own, one
                // inherited, no_new_privs, a child in strict mode; the filters refuse what Cryo's dump and restore
                // call in the task (suspended for it); --nnp=0: installed with CAP_SYS_ADMIN alone
                new Case("seccomp", Fixture.quiet("seccomp"), Scenario.cycles(2, moment), Check.standard())
                        .needing(Feature.THREADS, Feature.PROCESS_TREES),
                new Case("seccomp-no-nnp", Fixture.quiet("seccomp", "--nnp=0"), Scenario.cycles(1, moment),
                        Check.standard()).needing(Feature.THREADS, Feature.PROCESS_TREES),
                new Case("seccomp-pre-dumps", Fixture.quiet("seccomp"), Scenario.cycles(1, moment).withPreDumps(2, List.of()),
                        Check.standard()).needing(Feature.THREADS, Feature.PROCESS_TREES),
                new Case("seccomp-R-restore", Fixture.quiet("seccomp"), Scenario.cycles(1, moment).leavingRunning(true),
                        Check.standard()).needing(Feature.THREADS, Feature.PROCESS_TREES),
                // a process of another user (uid/gid 65534, supplementary groups, one capability), dumped and
                // restored by root
                new Case("creds", Fixture.quiet("creds"), Scenario.cycles(2, moment), Check.standard()),
                new Case("netlink", Fixture.quiet("netlink"), Scenario.cycles(2, moment), Check.standard()),
                // packet sockets: options, the interface it is bound to, a membership, a live capture on lo
                new Case("packet", Fixture.quiet("packet"), Scenario.cycles(2, moment), Check.standard()),
                // terminals: a pty pair in the tree, the slave a session's controlling terminal with another group
                // in the foreground; and a shell job's terminal, its master outside the tree (-j)
                new Case("pty", Fixture.quiet("pty"), Scenario.cycles(2, moment), Check.standard()),
                new Case("pty-shell-job", Fixture.quiet("pty", "--outside"),
                        Scenario.cycles(2, moment).withOptions(List.of("-j"), List.of("-j")), Check.standard()),
                // the same terminal named as CRIU's callers name it instead of -j: dumped with --external
                // tty[RDEV:DEV], restored with --inherit-fd fd[5]:tty[RDEV:DEV], the restorer's fd 5 the same slave
                new Case("pty-external-inherit", Fixture.quiet("pty", "--outside"), Scenario.cycles(1, moment)
                        .withOptions(List.of("--external", "{file:ext-tty}"), List.of("--inherit-fd", "fd[5]:{file:ext-tty}"))
                        .restoringVia(List.of("{build}/unix-outside", "--role=connect", "--want=file",
                                "--path={file:ext-tty-path}", "--fd=5", "--")), Check.standard()),
                // bytes in flight in a pty, both ways (tty-data.img); -R: read at the dump, they must be put back
                new Case("pty-data", Fixture.quiet("pty-data"), Scenario.cycles(2, moment), Check.standard()),
                new Case("pty-data-R", Fixture.quiet("pty-data"), Scenario.cycles(1, moment).leavingRunning(false),
                        Check.standard()),
                new Case("pty-data-R-restore", Fixture.quiet("pty-data"),
                        Scenario.cycles(1, moment).leavingRunning(true), Check.standard()),
                // unix SOCK_SEQPACKET: record boundaries of queued messages, a listener and its connection
                new Case("unix-seqpacket", Fixture.quiet("unix-seqpacket"), Scenario.cycles(2, moment), Check.standard()));
    }
}
