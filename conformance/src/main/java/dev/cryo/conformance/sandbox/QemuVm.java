package dev.cryo.conformance.sandbox;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The Debian 12 VM the {@code vagrant} sandbox runs cases in: the image {@code vagrant/vm-image} builds from
 * Debian's packages (bookworm's 6.1 kernel), booted with qemu straight from its kernel and initrd, the disk
 * read-only underneath (snapshot=on: every boot starts from the same image), the repository shared at its own
 * path over 9p (so work directories, images and fixtures have the same paths inside and out).
 *
 * <p>The only network is qemu's user-mode one with {@code restrict=on}: the guest reaches nothing outside
 * qemu, and its sshd is forwarded to a port of 127.0.0.1, the harness's command channel (one multiplexed
 * connection). KVM when a guest's kernel starts on it ({@link #ensureUp} tries once), else qemu's TCG (much slower;
 * the timeouts of the kind account for it).
 * One VM serves a whole suite run: each case gets its own namespaces inside it ({@link VagrantSandbox}).
 */
public final class QemuVm {
    private static final Duration IMAGE_TIMEOUT = Duration.ofMinutes(60);
    private static final Duration BOOT_TIMEOUT = Duration.ofMinutes(8);
    /** How long the image's kernel may take to print its banner in the KVM probe (TCG takes 3 s here, KVM < 1). */
    private static final Duration KVM_PROBE_TIMEOUT = Duration.ofSeconds(20);
    /** What {@link #probeKvm} found: null until it ran, then KVM's use or why TCG instead. */
    private static volatile Accel probed;
    private static QemuVm shared;
    /** Set by the JVM's shutdown hook: {@link #ensureUp} boots nothing after it. */
    private boolean shutDown;

    private final Path repo;
    private final Path state;
    private Process qemu;
    private Path image;
    private int port;
    private String kernel = "?";

    private QemuVm(Path repo) {
        this.repo = repo;
        this.state = repo.resolve("conformance/target/vm");
    }

    /** The suite's VM (one per JVM), not yet booted. */
    public static synchronized QemuVm shared(Path repo) {
        if (shared == null) {
            shared = new QemuVm(repo.toAbsolutePath().normalize());
            Runtime.getRuntime().addShutdownHook(new Thread(shared::shutDown, "stop the VM"));
        }
        return shared;
    }

    /** Why no VM can run here (a skip reason), or empty. Cheap: builds and boots nothing. */
    static Optional<String> unavailableReason() {
        if (!Processes.isRoot()) {
            return Optional.of("the VM sandbox needs root (the image is built with debootstrap; 9p shares as root)");
        }
        if (!Processes.onPath("qemu-system-x86_64")) {
            return Optional.of("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        }
        if (!Processes.onPath("ssh")) {
            return Optional.of("ssh is not installed (apt-get install openssh-client)");
        }
        if (!Processes.onPath("debootstrap") && !Processes.onPath("mkfs.ext4")) {
            return Optional.of("debootstrap and e2fsprogs are needed to build the VM image");
        }
        return Optional.empty();
    }

    /** qemu's accelerator for the VM, and why. */
    public record Accel(boolean kvm, String why) {
        @Override
        public String toString() {
            return kvm ? "KVM" : "TCG: " + why + ", several times slower";
        }
    }

    /**
     * Whether qemu runs the VM on KVM (else TCG, several times slower): once {@link #ensureUp} has tried a guest's
     * kernel on /dev/kvm, what that showed; before, whether /dev/kvm opens.
     */
    public static boolean kvm() {
        return accel().kvm();
    }

    /** The accelerator as far as known: the probe's finding once it ran, else what /dev/kvm's presence says. */
    public static Accel accel() {
        Accel found = probed;
        if (found != null) {
            return found;
        }
        return kvmDevice() ? new Accel(true, "/dev/kvm opens") : new Accel(false, "no usable /dev/kvm here");
    }

    private static boolean kvmDevice() {
        return Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
    }

    /**
     * Whether a guest runs on this host's KVM: /dev/kvm can be there and still run no ordinary guest (a host whose
     * KVM is {@code kvm_pvm} runs only kernels built as PVM guests: Debian's stops before its first line, and the VM
     * would never come up). So the image's kernel is booted on it alone, no disk, until it prints its banner; a
     * kernel that prints nothing within {@link #KVM_PROBE_TIMEOUT} means TCG.
     */
    private Accel probeKvm() throws SandboxException {
        if (!kvmDevice()) {
            return new Accel(false, "no usable /dev/kvm here");
        }
        Path log = state.resolve("kvm-probe.log");
        Process probe;
        try {
            Files.createDirectories(state);
            Files.deleteIfExists(log);
            probe = new ProcessBuilder("qemu-system-x86_64", "-name", "cryo-kvm-probe", "-accel", "kvm", "-cpu", "host",
                    "-m", "256", "-kernel", image.resolve("vmlinuz").toString(),
                    "-append", "console=ttyS0 loglevel=7 panic=-1", "-serial", "file:" + log,
                    "-display", "none", "-monitor", "none", "-no-reboot")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        } catch (IOException e) {
            throw new SandboxException("cannot start qemu to try KVM: " + e.getMessage(), e);
        }
        try {
            await("the image's kernel to print its banner on KVM").atMost(KVM_PROBE_TIMEOUT)
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> bannerIn(log) || !probe.isAlive());
            return bannerIn(log) ? new Accel(true, "a guest's kernel starts on /dev/kvm")
                    : new Accel(false, "qemu on /dev/kvm exited before the guest's kernel printed anything");
        } catch (ConditionTimeoutException e) {
            String kind = Files.isDirectory(Path.of("/sys/module/kvm_pvm"))
                    && !Files.isDirectory(Path.of("/sys/module/kvm_intel")) && !Files.isDirectory(Path.of("/sys/module/kvm_amd"))
                    ? " (this host's KVM is kvm_pvm, which runs only PVM guest kernels)" : "";
            return new Accel(false, "/dev/kvm is there, but the guest's kernel printed nothing in "
                    + KVM_PROBE_TIMEOUT.toSeconds() + " s on it" + kind);
        } finally {
            probe.destroyForcibly();
            try {
                probe.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The kernel release the VM runs, once it is up. */
    public String kernel() {
        return kernel;
    }

    /** Builds the image if its inputs changed (cached otherwise), boots the VM and waits for its sshd. */
    public synchronized void ensureUp() throws SandboxException {
        if (qemu != null && qemu.isAlive()) {
            return;
        }
        if (shutDown) {
            throw new SandboxException("the suite is ending: no VM is booted any more");
        }
        stop();
        ExecResult built = Processes.run(List.of("bash", repo.resolve("vagrant/vm-image").toString()), Map.of(),
                state.resolve("image"), IMAGE_TIMEOUT, List.of("vagrant/vm-image"));
        if (!built.ok()) {
            throw new SandboxException("vagrant/vm-image failed: " + lastLine(built.stderr()));
        }
        image = Path.of(lastLine(built.stdout()));
        if (probed == null) {
            probed = probeKvm();
        }
        try {
            Files.createDirectories(state);
            Files.deleteIfExists(state.resolve("ssh-control"));
            Files.deleteIfExists(state.resolve("console.log"));
            port = freePort();
            qemu = new ProcessBuilder(qemuArgv()).redirectErrorStream(true)
                    .redirectOutput(state.resolve("qemu.log").toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        } catch (IOException e) {
            throw new SandboxException("cannot start qemu: " + e.getMessage(), e);
        }
        Path console = state.resolve("console.log");
        try {
            await("the VM's init to start sshd").atMost(BOOT_TIMEOUT).pollInterval(Duration.ofMillis(500)).until(() -> {
                if (!qemu.isAlive()) {
                    throw new SandboxException("qemu exited with " + qemu.exitValue() + ": "
                            + lastLine(Processes.read(state.resolve("qemu.log"))));
                }
                return Files.exists(console) && Processes.read(console).contains("cryo-vm: ready");
            });
            // the master connection, which every later command rides on
            await("ssh into the VM").atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1))
                    .until(() -> Processes.run(ssh(List.of("-M", "-N", "-f")), Map.of(), state.resolve("ssh"),
                            Duration.ofSeconds(60), List.of("ssh -M")).ok());
        } catch (ConditionTimeoutException e) {
            String tail = Files.exists(console) ? lastLines(console, 5) : "(no console output)";
            stop();
            throw new SandboxException("the VM did not come up within " + BOOT_TIMEOUT.toMinutes()
                    + " min (qemu on " + accel() + "); its console ended: " + tail);
        } catch (RuntimeException e) {
            stop();
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new SandboxException("the VM did not come up: " + cause.getMessage(), e);
        }
        kernel = run("uname -r", Duration.ofSeconds(60)).stdout().strip();
    }

    /** Runs a shell command line in the VM as root; waits at most {@code timeout}. */
    public ExecResult run(String commandLine, Duration timeout) throws SandboxException {
        List<String> argv = ssh(List.of("--", commandLine));
        return Processes.run(argv, Map.of(), state.resolve("exec"), timeout, List.of("vm", commandLine));
    }

    /**
     * The JVM is ending (its shutdown hook): the VM goes off, and stays off. A case still running would otherwise
     * find it gone, boot another, and leave that qemu running once the JVM is gone (seen when the suite was killed).
     */
    synchronized void shutDown() {
        shutDown = true;
        stop();
    }

    /** Powers the VM off (qemu ends; the disk underneath is unchanged). Safe to call twice. */
    public synchronized void stop() {
        if (qemu == null) {
            return;
        }
        try {
            new ProcessBuilder(ssh(List.of("-O", "exit"))).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(10, TimeUnit.SECONDS);
        } catch (IOException e) {
            // no master connection: nothing to end
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        qemu.destroy(); // SIGTERM: qemu quits at once; the disk was a snapshot
        try {
            if (!qemu.waitFor(15, TimeUnit.SECONDS)) {
                qemu.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        qemu = null;
    }

    private List<String> qemuArgv() {
        List<String> argv = new ArrayList<>(List.of("qemu-system-x86_64", "-name", "cryo-conformance",
                "-machine", "q35", "-smp", "2", "-m", "3072"));
        if (kvm()) {
            argv.addAll(List.of("-accel", "kvm", "-cpu", "host"));
        } else {
            argv.addAll(List.of("-accel", "tcg,thread=multi", "-cpu", "max"));
        }
        argv.addAll(List.of(
                "-kernel", image.resolve("vmlinuz").toString(),
                "-initrd", image.resolve("initrd.img").toString(),
                "-append", "root=/dev/vda rw console=ttyS0 init=/sbin/cryo-vm-init panic=-1 quiet net.ifnames=0 cryo.share=repo:" + repo
                        + String.join("", jdkShares().stream().map(j -> " cryo.share=jvm" + jdkShares().indexOf(j) + ":" + j).toList()),
                "-drive", "file=" + image.resolve("rootfs.img") + ",format=raw,if=virtio,snapshot=on",
                // user-mode networking only: restrict=on cuts the guest off from everything but the forward
                "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:" + port + "-:22",
                "-device", "virtio-net-pci,netdev=net0",
                "-virtfs", "local,path=" + repo + ",mount_tag=repo,security_model=passthrough,id=repo",
                "-serial", "file:" + state.resolve("console.log"),
                "-display", "none", "-monitor", "none", "-no-reboot"));
        for (int i = 0; i < jdkShares().size(); i++) {
            argv.addAll(List.of("-virtfs", "local,path=" + jdkShares().get(i) + ",mount_tag=jvm" + i
                    + ",security_model=passthrough,readonly=on,id=jvm" + i));
        }
        return argv;
    }

    /**
     * The host's JDKs that Debian 12 has no package of (a JDK 25 under /usr/lib/jvm): programs the suite runs
     * (the jvm25 cases), shared read-only at their own paths. Debian's own ({@code java-*}) are in the image.
     */
    static List<Path> jdkShares() {
        try (var dirs = Files.list(Path.of("/usr/lib/jvm"))) {
            return dirs.filter(d -> Files.isDirectory(d, java.nio.file.LinkOption.NOFOLLOW_LINKS))
                    .filter(d -> !d.getFileName().toString().startsWith("java-") && !d.getFileName().toString().startsWith("openjdk-"))
                    .filter(d -> Files.isExecutable(d.resolve("bin/java"))).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private List<String> ssh(List<String> args) {
        List<String> argv = new ArrayList<>(List.of("ssh", "-i", image.resolve("id_ed25519").toString(),
                "-p", Integer.toString(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30",
                "-o", "ControlPath=" + state.resolve("ssh-control"), "-o", "ControlPersist=yes",
                "-o", "ServerAliveInterval=30"));
        argv.addAll(args.subList(0, args.indexOf("--") < 0 ? args.size() : args.indexOf("--")));
        argv.add("root@127.0.0.1");
        if (args.contains("--")) {
            argv.addAll(args.subList(args.indexOf("--") + 1, args.size()));
        }
        return argv;
    }

    private static boolean bannerIn(Path console) {
        try {
            return Files.exists(console) && Processes.read(console).contains("Linux version");
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1].strip();
    }

    private static String lastLines(Path file, int n) {
        try {
            List<String> lines = Files.readAllLines(file);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + file + ")";
        }
    }
}
