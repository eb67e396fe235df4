package dev.cryo.conformance.sandbox;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Debian 12 virtual machine made by {@code vagrant/Vagrantfile}, provisioned with the script CI uses
 * ({@code .ci/provision}), with the repository synced to {@code /cryo}. Commands run through
 * {@code vagrant ssh}; the suite runs inside the VM in its native and docker sandboxes.
 */
public final class VagrantSandbox implements Sandbox {
    private static final Duration UP_TIMEOUT = Duration.ofMinutes(30);

    private final Path repo;
    private boolean up;

    public VagrantSandbox(Path repo) {
        this.repo = repo;
    }

    static Optional<String> unavailableReason() {
        if (!Processes.onPath("vagrant")) {
            return Optional.of("vagrant is not installed (apt-get install vagrant, plus a provider: libvirt or VirtualBox)");
        }
        boolean provider = Processes.onPath("VBoxManage") || Processes.onPath("virsh");
        if (!provider) {
            return Optional.of("vagrant has no provider here (neither VirtualBox nor libvirt is installed)");
        }
        return Optional.empty();
    }

    @Override
    public String kind() {
        return "vagrant";
    }

    @Override
    public void start() throws SandboxException {
        // only the "deps" provisioner: the suite itself runs through exec, so the table comes back here
        ExecResult result = vagrant(List.of("up", "--provision-with", "deps"), UP_TIMEOUT);
        if (!result.ok()) {
            throw new SandboxException("vagrant up failed: " + result.lastLine());
        }
        up = true;
    }

    @Override
    public ExecResult exec(List<String> argv, Map<String, String> env, Duration timeout) throws SandboxException {
        StringBuilder command = new StringBuilder("cd /cryo &&");
        env.forEach((k, v) -> command.append(' ').append(k).append('=').append(quote(v)));
        argv.forEach(a -> command.append(' ').append(quote(a)));
        return vagrant(List.of("ssh", "-c", "sudo sh -c " + quote(command.toString())), timeout);
    }

    @Override
    public void stop() {
        if (up) {
            try {
                vagrant(List.of("halt"), Duration.ofMinutes(5));
            } catch (SandboxException e) {
                // a VM that will not halt is left to `vagrant destroy`; nothing of the suite runs in it any more
            }
            up = false;
        }
    }

    private ExecResult vagrant(List<String> args, Duration timeout) throws SandboxException {
        List<String> argv = new ArrayList<>(List.of("vagrant"));
        argv.addAll(args);
        Path dir = repo.resolve("vagrant");
        List<String> inDir = new ArrayList<>(List.of("sh", "-c", "cd \"$0\" && exec \"$@\"", dir.toString()));
        inDir.addAll(argv);
        return Processes.run(inDir, Map.of(), repo.resolve("conformance/target/vagrant-exec"), timeout, argv);
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
