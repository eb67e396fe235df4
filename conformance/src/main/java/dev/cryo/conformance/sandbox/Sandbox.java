package dev.cryo.conformance.sandbox;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * An isolated place where a fixture and the engine run side by side: own pid namespace (so a restore
 * can take back the same pids) and loopback-only networking. Started once per case and stopped at its
 * end; stopping ends every process inside.
 */
public interface Sandbox extends AutoCloseable {

    /** {@code native}, {@code docker} or {@code vagrant}. */
    String kind();

    /** Brings the sandbox up; returns once commands can run in it. */
    void start() throws SandboxException;

    /**
     * Runs argv inside, as root, in its namespaces; waits at most {@code timeout}. A command still
     * running then is reported as timed out (and ends with the sandbox at the latest).
     */
    ExecResult exec(List<String> argv, Map<String, String> env, Duration timeout) throws SandboxException;

    default ExecResult exec(List<String> argv, Duration timeout) throws SandboxException {
        return exec(argv, Map.of(), timeout);
    }

    /**
     * A directory of the case's own on the sandbox's own file system, for what the shared work directory may not
     * hold: a unix socket, a database's files. The work directory itself where it is the sandbox's own; made by
     * {@link #start()}, and removed by {@link #stop()} where it is not the work directory.
     */
    java.nio.file.Path localDir();

    /** Ends every process in the sandbox and releases it. Safe to call twice, and after a failed start. */
    void stop();

    @Override
    default void close() {
        stop();
    }
}
