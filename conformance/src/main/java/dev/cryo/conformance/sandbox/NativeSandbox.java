package dev.cryo.conformance.sandbox;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Own pid, net, mount, ipc and uts namespaces on this machine: {@code unshare} starts cryo-init as pid
 * 1 of the new namespaces, and commands enter them with {@code nsenter}. The network is loopback only.
 * Killing cryo-init ends the pid namespace, and with it everything that ran inside.
 */
public final class NativeSandbox implements Sandbox {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(15);

    private final SandboxSetup setup;
    private Process unshare;
    private long initPid = -1;

    public NativeSandbox(SandboxSetup setup) {
        this.setup = setup;
    }

    static Optional<String> unavailableReason() {
        if (!Processes.isRoot()) {
            return Optional.of("the native sandbox needs root (to make pid and net namespaces)");
        }
        if (!Processes.onPath("unshare") || !Processes.onPath("nsenter")) {
            return Optional.of("unshare or nsenter (util-linux) is not installed");
        }
        return Optional.empty();
    }

    @Override
    public Path localDir() {
        return setup.workDir();
    }

    @Override
    public String kind() {
        return "native";
    }

    @Override
    public void start() throws SandboxException {
        Path init = setup.initBinary();
        Path ready = setup.prepareStart();
        try {
            unshare = new ProcessBuilder("unshare", "--pid", "--fork", "--mount-proc", "--net", "--mount", "--ipc",
                    "--uts", "--kill-child", init.toString(), ready.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(setup.workDir().resolve(".sandbox.log").toFile())
                    .start();
            await("cryo-init ready in a new pid namespace").atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(10))
                    .until(() -> {
                        if (!unshare.isAlive()) {
                            throw new SandboxException("unshare exited with " + unshare.exitValue() + ": "
                                    + Processes.read(setup.workDir().resolve(".sandbox.log")).strip());
                        }
                        return Files.exists(ready);
                    });
            String children = Files.readString(Path.of("/proc", Long.toString(unshare.pid()), "task",
                    Long.toString(unshare.pid()), "children")).strip();
            initPid = Long.parseLong(children.split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            stop();
            Throwable cause = e.getCause() instanceof SandboxException ? e.getCause() : e;
            throw new SandboxException("cannot start the native sandbox: " + cause.getMessage(), e);
        }
    }

    @Override
    public ExecResult exec(List<String> argv, Map<String, String> env, Duration timeout) throws SandboxException {
        if (initPid < 0) {
            throw new SandboxException("the native sandbox is not running");
        }
        List<String> full = new ArrayList<>(List.of("nsenter", "--target", Long.toString(initPid),
                "--pid", "--net", "--mount", "--ipc", "--uts", "--wd=" + setup.workDir(), "--"));
        full.addAll(argv);
        return Processes.run(full, env, setup.workDir().resolve(".exec"), timeout, argv);
    }

    @Override
    public void stop() {
        if (initPid > 0) {
            ProcessHandle.of(initPid).ifPresent(ProcessHandle::destroyForcibly);
            initPid = -1;
        }
        if (unshare != null) {
            try {
                // unshare exits once its child, the namespace's init, is dead and every process inside is gone
                if (!unshare.waitFor(10, TimeUnit.SECONDS)) {
                    unshare.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            unshare = null;
        }
    }

    /** The host pid of the sandbox's init, for tests that check nothing outlives the sandbox. */
    public long initPid() {
        return initPid;
    }
}
