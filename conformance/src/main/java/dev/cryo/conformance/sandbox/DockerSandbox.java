package dev.cryo.conformance.sandbox;

import static org.awaitility.Awaitility.await;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.command.CreateContainerResponse;
import com.github.dockerjava.api.command.ExecCreateCmdResponse;
import com.github.dockerjava.api.exception.ConflictException;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.Capability;
import com.github.dockerjava.api.model.Frame;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.Volume;
import com.github.dockerjava.core.DefaultDockerClientConfig;
import com.github.dockerjava.core.DockerClientImpl;
import com.github.dockerjava.httpclient5.ApacheDockerHttpClient;
import com.github.dockerjava.transport.DockerHttpClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A Docker container from the suite's own base image (see {@link DockerBaseImage}), with the host's
 * /usr, the repository and the case's work directory bind-mounted at their own paths. Loopback only
 * ({@code --network none}); instead of {@code --privileged}, which fails here, the capabilities a
 * checkpoint/restore engine needs. cryo-init is the container's pid 1.
 */
public final class DockerSandbox implements Sandbox {
    static final String DOCKER_HOST = "unix:///var/run/docker.sock";
    static final String LABEL = "dev.cryo.conformance";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static DockerClient client;
    private static DockerHttpClient http;

    private final SandboxSetup setup;
    private String containerId;

    public DockerSandbox(SandboxSetup setup) {
        this.setup = setup;
    }

    static synchronized DockerClient client() {
        if (client == null) {
            DefaultDockerClientConfig config = DefaultDockerClientConfig.createDefaultConfigBuilder()
                    .withDockerHost(DOCKER_HOST).build();
            http = new ApacheDockerHttpClient.Builder()
                    .dockerHost(config.getDockerHost()).sslConfig(config.getSSLConfig())
                    .maxConnections(16).connectionTimeout(Duration.ofSeconds(10)).build();
            client = DockerClientImpl.getInstance(config, http);
        }
        return client;
    }

    static Optional<String> unavailableReason() {
        if (!Files.exists(Path.of("/var/run/docker.sock"))) {
            return Optional.of("no Docker daemon: /var/run/docker.sock does not exist (start dockerd as .ci/run does)");
        }
        try {
            client().pingCmd().exec();
            return Optional.empty();
        } catch (RuntimeException e) {
            return Optional.of("Docker does not answer at " + DOCKER_HOST + ": " + e.getMessage());
        }
    }

    /** Removes containers an earlier, interrupted run left behind. */
    /** Removes containers an earlier suite of this checkout left (under {@code runsRoot}); another checkout's suite may be running. */
    public static void removeLeftovers(Path runsRoot) {
        if (unavailableReason().isPresent()) {
            return;
        }
        String mine = runsRoot.toAbsolutePath().normalize() + "/";
        client().listContainersCmd().withShowAll(true).withLabelFilter(List.of(LABEL)).exec().stream()
                .filter(c -> c.getLabels() != null && c.getLabels().getOrDefault(LABEL, "").startsWith(mine))
                .forEach(c -> remove(c.getId()));
    }

    @Override
    public Path localDir() {
        return setup.workDir();
    }

    @Override
    public String kind() {
        return "docker";
    }

    @Override
    public void start() throws SandboxException {
        Path init = setup.initBinary();
        Path ready = setup.prepareStart();
        try {
            String image = DockerBaseImage.ensure(client(), http, setup.workDir().getParent());
            String javaHome = javaHome();
            HostConfig host = HostConfig.newHostConfig()
                    .withBinds(binds(javaHome))
                    .withNetworkMode("none")
                    // Docker turns IPv6 off in a container; the IPv6 socket cases need ::1 on its loopback
                    .withSysctls(Map.of("net.ipv6.conf.all.disable_ipv6", "0", "net.ipv6.conf.lo.disable_ipv6", "0"))
                    // SYS_TIME: CRIU restores a process's monotonic clock through a time namespace's offsets
                    .withCapAdd(Capability.SYS_PTRACE, Capability.SYS_ADMIN, Capability.NET_ADMIN, Capability.SYS_TIME)
                    .withSecurityOpts(List.of("seccomp=unconfined", "apparmor=unconfined"));
            CreateContainerResponse created = client().createContainerCmd(image)
                    .withName("cryo-conformance-" + UUID.randomUUID().toString().substring(0, 8))
                    .withLabels(Map.of(LABEL, setup.workDir().toString()))
                    .withHostConfig(host)
                    .withEnv("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "JAVA_HOME=" + javaHome)
                    .withWorkingDir(setup.workDir().toString())
                    .withCmd(init.toString(), ready.toString())
                    .exec();
            containerId = created.getId();
            client().startContainerCmd(containerId).exec();
            await("cryo-init ready in the container").atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(20))
                    .until(() -> Files.exists(ready));
        } catch (IOException | SandboxException | RuntimeException e) {
            stop();
            throw new SandboxException("cannot start the docker sandbox: " + e.getMessage(), e);
        }
    }

    private List<Bind> binds(String javaHome) throws IOException {
        Set<Path> readOnly = new LinkedHashSet<>(List.of(Path.of("/usr"), setup.repo()));
        // /usr/bin/java and friends are links through /etc/alternatives; Debian's JDK keeps its conf in /etc
        readOnly.add(Path.of("/etc/alternatives"));
        try (Stream<Path> etc = Files.list(Path.of("/etc"))) {
            etc.filter(p -> p.getFileName().toString().startsWith("java-")).forEach(readOnly::add);
        }
        readOnly.add(Path.of("/etc/ld.so.cache"));
        // the apps group's programs read their packages' configuration (redis.conf, nginx's mime.types)
        readOnly.add(Path.of("/etc/redis"));
        readOnly.add(Path.of("/etc/nginx"));
        // postgres runs as its package's user, whom initdb and the server look up
        readOnly.add(Path.of("/etc/passwd"));
        readOnly.add(Path.of("/etc/group"));
        if (!Path.of(javaHome).startsWith("/usr")) {
            readOnly.add(Path.of(javaHome));
        }
        for (Path extra : setup.extraMounts()) {
            if (!extra.startsWith(setup.repo()) && !extra.startsWith("/usr")) {
                readOnly.add(extra);
            }
        }
        List<Bind> binds = new ArrayList<>();
        for (Path p : readOnly) {
            if (Files.exists(p)) {
                binds.add(new Bind(p.toString(), new Volume(p.toString()), AccessMode.ro));
            }
        }
        binds.add(new Bind(setup.workDir().toString(), new Volume(setup.workDir().toString()), AccessMode.rw));
        return binds;
    }

    private static String javaHome() {
        String home = System.getenv("JAVA_HOME");
        return home != null && !home.isBlank() ? home : System.getProperty("java.home");
    }

    @Override
    public ExecResult exec(List<String> argv, Map<String, String> env, Duration timeout) throws SandboxException {
        if (containerId == null) {
            throw new SandboxException("the docker sandbox is not running");
        }
        long start = System.nanoTime();
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        try {
            ExecCreateCmdResponse exec = client().execCreateCmd(containerId)
                    .withCmd(argv.toArray(String[]::new))
                    .withEnv(env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList())
                    .withWorkingDir(setup.workDir().toString())
                    .withAttachStdout(true).withAttachStderr(true).exec();
            ResultCallback.Adapter<Frame> callback = client().execStartCmd(exec.getId())
                    .exec(new ResultCallback.Adapter<>() {
                        @Override
                        public void onNext(Frame frame) {
                            StringBuilder to = frame.getStreamType().name().equals("STDERR") ? err : out;
                            synchronized (to) {
                                if (to.length() < (1 << 20)) {
                                    to.append(new String(frame.getPayload(), StandardCharsets.UTF_8));
                                }
                            }
                        }
                    });
            boolean done = callback.awaitCompletion(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!done) {
                callback.close();
            }
            Long code = done ? client().inspectExecCmd(exec.getId()).exec().getExitCodeLong() : null;
            return new ExecResult(argv, code == null ? -1 : code.intValue(), out.toString(), err.toString(), !done,
                    Duration.ofNanos(System.nanoTime() - start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SandboxException("interrupted while running " + String.join(" ", argv), e);
        } catch (IOException | RuntimeException e) {
            throw new SandboxException("docker exec of " + argv.get(0) + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void stop() {
        if (containerId != null) {
            remove(containerId);
            containerId = null;
        }
    }

    private static void remove(String id) {
        try {
            client().removeContainerCmd(id).withForce(true).withRemoveVolumes(true).exec();
        } catch (NotFoundException e) {
            // already gone
        } catch (ConflictException e) {
            // already being removed
        }
    }
}
