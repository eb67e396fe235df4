package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.SandboxException;
import java.time.Duration;
import java.util.List;

/**
 * No nftables table of Cryo's network lock ({@code inet cryo-lock-PID}) is left in the sandbox's
 * namespace: not after a restore, not after the case, and not after a case that failed.
 */
public final class NoNetworkLock implements Check {
    static final String PREFIX = "cryo-lock-";

    @Override
    public String name() {
        return "network-lock";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        requireNoLock(run, "after cycle " + run.cycle());
    }

    @Override
    public void atEnd(Run run) throws CheckFailure {
        requireNoLock(run, "at the end");
    }

    @Override
    public void afterCase(Run run) throws CheckFailure {
        requireNoLock(run, "after the case");
    }

    static void requireNoLock(Run run, String when) throws CheckFailure {
        ExecResult r;
        try {
            r = run.sandbox().exec(List.of("nft", "list", "tables"), Duration.ofSeconds(20));
        } catch (SandboxException e) {
            throw new CheckFailure("network-lock", when + ": cannot run nft list tables: " + e.getMessage());
        }
        if (!r.ok()) {
            throw new CheckFailure("network-lock", when + ": nft list tables failed: " + r.lastLine());
        }
        List<String> left = r.stdout().lines().filter(l -> l.contains(PREFIX)).toList();
        if (!left.isEmpty()) {
            throw new CheckFailure("network-lock", when + ": Cryo's network lock is still there: " + left);
        }
    }

    /** The standard checks plus this one, for cases with sockets. */
    public static List<Check> withStandard(List<Check> base) {
        List<Check> checks = new java.util.ArrayList<>(base);
        checks.add(new NoNetworkLock());
        return List.copyOf(checks);
    }
}
