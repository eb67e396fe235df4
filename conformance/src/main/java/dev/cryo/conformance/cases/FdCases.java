package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;

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
                new Case("timers", Fixture.quiet("timers"), Scenario.cycles(2, moment), Check.standard()));
    }
}
