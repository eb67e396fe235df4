package dev.cryo.conformance.sandbox;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.awaitility.core.ConditionTimeoutException;

/**
 * A case's sandbox on Debian 12's own kernel (6.1): the {@link QemuVm} the suite boots once, and in it the
 * native sandbox's namespaces (pid, net, mount, ipc, uts; cryo-init as pid 1), entered with nsenter over the
 * VM's ssh channel. The repository is shared at its own path, so fixture, engine and work directory are
 * where the host expects them, and the harness reads the fixture's markers and the images directly.
 *
 * <p>Named {@code vagrant} after the sandbox it replaces: {@code vagrant/Vagrantfile} still makes the same kind
 * of VM on a workstation, but here Vagrant cannot keep to the network rule (vagrant-libvirt puts its VMs on a
 * NAT bridge of a private range) nor use KVM, so the harness boots the image with qemu itself.
 */
public final class VagrantSandbox implements Sandbox {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    private final SandboxSetup setup;
    private final QemuVm vm;
    private long unsharePid = -1;
    private long initPid = -1;

    public VagrantSandbox(SandboxSetup setup) {
        this.setup = setup;
        this.vm = QemuVm.shared(setup.repo());
    }

    static Optional<String> unavailableReason() {
        return QemuVm.unavailableReason();
    }

    /** Under the VM's /tmp (a tmpfs): the work directory is shared over 9p, which cannot hold a unix socket. */
    @Override
    public Path localDir() {
        return Path.of("/tmp/cryo-local").resolve(setup.workDir().toString().substring(1));
    }

    @Override
    public String kind() {
        return "vagrant";
    }

    @Override
    public void start() throws SandboxException {
        vm.ensureUp();
        Path init = setup.initBinary();
        Path ready = setup.prepareStart();
        String w = quote(setup.workDir().toString());
        // `cd` apart from the `&`: a backgrounded list would keep a subshell, and ssh's session, open
        String local = quote(localDir().toString());
        ExecResult started = vm.run("cd " + w + " || exit 1; rm -rf --one-file-system " + local + "; mkdir -p " + local
                + " || exit 1; setsid unshare --pid --fork --mount-proc --net --mount --ipc --uts"
                + " --kill-child " + quote(init.toString()) + " " + quote(ready.toString())
                + " </dev/null >" + w + "/.sandbox.log 2>&1 & echo $!", START_TIMEOUT);
        if (!started.ok() || !started.stdout().strip().matches("\\d+")) {
            throw new SandboxException("cannot start the sandbox in the VM: " + started.lastLine());
        }
        unsharePid = Long.parseLong(started.stdout().strip());
        try {
            await("cryo-init ready in the VM").atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(50))
                    .until(() -> Files.exists(ready));
        } catch (ConditionTimeoutException e) {
            stop();
            throw new SandboxException("cryo-init did not start in the VM within " + START_TIMEOUT.toSeconds() + " s: "
                    + readQuietly(setup.workDir().resolve(".sandbox.log")));
        }
        ExecResult children = vm.run("cat /proc/" + unsharePid + "/task/" + unsharePid + "/children", START_TIMEOUT);
        String first = children.stdout().strip().split("\\s+")[0];
        if (!children.ok() || !first.matches("\\d+")) {
            stop();
            throw new SandboxException("cannot find cryo-init in the VM (children of unshare " + unsharePid + ": '"
                    + children.stdout().strip() + "')");
        }
        initPid = Long.parseLong(first);
    }

    @Override
    public ExecResult exec(List<String> argv, Map<String, String> env, Duration timeout) throws SandboxException {
        if (initPid < 0) {
            throw new SandboxException("the vagrant sandbox is not running");
        }
        // the engine on Debian's JDK 17 of the image: bin/cryo would prefer a JDK 25 shared from the host
        StringBuilder command = new StringBuilder("cd ").append(quote(setup.workDir().toString()))
                .append(" && exec env CRYO_JAVA=/usr/lib/jvm/java-17-openjdk-amd64/bin/java");
        env.forEach((k, v) -> command.append(' ').append(quote(k + "=" + v)));
        command.append(" nsenter --target ").append(initPid).append(" --pid --net --mount --ipc --uts --wd=")
                .append(quote(setup.workDir().toString())).append(" --");
        argv.forEach(a -> command.append(' ').append(quote(a)));
        ExecResult r = vm.run(command.toString(), timeout);
        return new ExecResult(argv, r.exitCode(), r.stdout(), r.stderr(), r.timedOut(), r.took());
    }

    @Override
    public void stop() {
        if (unsharePid > 0) {
            // killing the namespace's init ends every process in it; unshare follows
            String kill = (initPid > 0 ? "kill -KILL " + initPid + " 2>/dev/null; " : "")
                    + "kill -KILL " + unsharePid + " 2>/dev/null; "
                    + "for i in $(seq 200); do [ -e /proc/" + unsharePid + "/stat ] || exit 0;"
                    + " case $(cut -d' ' -f3 /proc/" + unsharePid + "/stat 2>/dev/null) in Z) break;; esac; sleep 0.05; done; "
                    + "rm -rf --one-file-system " + quote(localDir().toString());
            try {
                vm.run(kill, Duration.ofSeconds(60));
            } catch (SandboxException e) {
                // the VM is gone: so is everything that ran in it
            }
            unsharePid = -1;
            initPid = -1;
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.exists(file) ? Processes.read(file).strip() : "";
        } catch (IOException e) {
            return "";
        }
    }

    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
