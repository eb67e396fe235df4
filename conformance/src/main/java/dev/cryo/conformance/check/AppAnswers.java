package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.SandboxException;
import java.util.ArrayList;
import java.util.List;

/**
 * A real program's own answers are the verdict: after every cycle its {@code check} script reads the state
 * back through the program's client and makes it serve again; at the end its {@code finish} script stops the
 * load that ran across the dumps and judges what the load's client saw.
 */
public final class AppAnswers implements Check {

    @Override
    public String name() {
        return "app";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        script(run, "check", "after cycle " + run.cycle());
    }

    @Override
    public void atEnd(Run run) throws CheckFailure {
        if (run.appHas("finish")) {
            script(run, "finish", "at the end");
        }
    }

    private void script(Run run, String script, String when) throws CheckFailure {
        ExecResult r;
        try {
            r = run.appScript(script);
        } catch (SandboxException e) {
            throw new CheckFailure(name(), when + ": cannot run " + script + ": " + e.getMessage());
        }
        if (!r.ok()) {
            String program = run.testCase().fixture().binary();
            throw new CheckFailure(name(), when + ": " + program + " (pid " + run.pid() + ") " + script + ": "
                    + (r.timedOut() ? "did not finish in time" : r.lastLine()));
        }
    }

    /**
     * The checks of an app's case: its pids kept (every task's, or with {@code processesOnly} the processes'
     * alone, for programs whose thread pools start and end threads on their own), nothing left stopped, no
     * network lock left, and the program's own answers. Not {@link ImagesSane}: CRIU writes a shared mapping's
     * pages (nginx's, the JVM's perf data) into the pages files without counting them in pages_written.
     */
    public static List<Check> forApp(boolean processesOnly) {
        List<Check> checks = new ArrayList<>(List.of(processesOnly ? PidsPreserved.processesOnly() : new PidsPreserved(),
                new Resumes(), new NoNetworkLock(), new AppAnswers()));
        return List.copyOf(checks);
    }
}
