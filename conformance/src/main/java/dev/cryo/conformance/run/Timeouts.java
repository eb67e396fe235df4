package dev.cryo.conformance.run;

import java.time.Duration;

/**
 * Every wait of the harness has a bound, so a hung engine or fixture fails its case instead of
 * hanging the suite. {@code perCycle} bounds a whole cycle (pre-dumps, dump, restore, checks).
 */
public record Timeouts(Duration engine, Duration ready, Duration verdict, Duration probe, Duration progress,
                       Duration caseBase, Duration perCycle) {

    public static Timeouts standard() {
        // the probe reads every thread's status with a shell loop: 500 threads on a loaded machine take seconds
        return new Timeouts(Duration.ofSeconds(90), Duration.ofSeconds(15), Duration.ofSeconds(15),
                Duration.ofSeconds(60), Duration.ofSeconds(10), Duration.ofSeconds(60), Duration.ofSeconds(240));
    }

    public Timeouts withEngine(Duration engine) {
        return new Timeouts(engine, ready, verdict, probe, progress, caseBase, perCycle);
    }

    public Timeouts withCaseBound(Duration base, Duration cycle) {
        return new Timeouts(engine, ready, verdict, probe, progress, base, cycle);
    }

    /** Every bound {@code factor} times as long: for a sandbox whose steps run slower (a VM without KVM). */
    public Timeouts times(int factor) {
        return new Timeouts(engine.multipliedBy(factor), ready.multipliedBy(factor), verdict.multipliedBy(factor),
                probe.multipliedBy(factor), progress.multipliedBy(factor), caseBase.multipliedBy(factor),
                perCycle.multipliedBy(factor));
    }

    /** The most one case may take, all told. */
    public Duration caseBound(int cycles) {
        return caseBase.plus(perCycle.multipliedBy(cycles));
    }
}
