package dev.cryo.conformance.sandbox;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.transport.DockerHttpClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The suite's container image, made with {@code docker import} from a tiny tar: a merged-/usr Debian
 * layout ({@code bin}, {@code lib}, {@code lib64}, {@code sbin} link into {@code usr/}) whose {@code /usr}
 * is the host's, bind-mounted read-only. There is no registry to pull from here.
 */
final class DockerBaseImage {
    static final String REPOSITORY = "cryo-conformance-base";
    static final String TAG = "1";

    private DockerBaseImage() {
    }

    static synchronized String ensure(DockerClient client, DockerHttpClient http, Path scratch) throws IOException, SandboxException {
        String name = REPOSITORY + ":" + TAG;
        try {
            client.inspectImageCmd(name).exec();
            return name;
        } catch (NotFoundException e) {
            // not made yet
        }
        Path root = scratch.resolve("docker-base-root");
        Path tar = scratch.resolve("docker-base.tar");
        Files.createDirectories(root);
        for (String dir : List.of("usr", "etc", "tmp", "proc", "sys", "dev", "root", "run", "var/tmp")) {
            Files.createDirectories(root.resolve(dir));
        }
        for (String link : List.of("bin", "lib", "lib64", "sbin")) {
            Path at = root.resolve(link);
            Files.deleteIfExists(at);
            Files.createSymbolicLink(at, Path.of("usr", link));
        }
        for (Map.Entry<String, String> file : Map.of(
                "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n",
                "etc/group", "root:x:0:\n",
                "etc/os-release", "NAME=\"cryo-conformance base (host /usr)\"\nID=debian\n").entrySet()) {
            Files.writeString(root.resolve(file.getKey()), file.getValue());
        }
        // /tmp must be world-writable with the sticky bit, as in any root file system
        ExecResult packed = Processes.run(List.of("sh", "-c", "cd \"$0\" && chmod 1777 tmp var/tmp && tar --owner=0 --group=0 "
                        + "--numeric-owner -cf \"$1\" .", root.toString(), tar.toString()), Map.of(),
                scratch.resolve(".exec"), Duration.ofSeconds(60), List.of("tar"));
        if (!packed.ok()) {
            throw new IOException("cannot pack the base image: " + packed.lastLine());
        }
        // docker-java's createImageCmd sends a stream as JSON (its issue #2377): post the tar on its transport
        DockerHttpClient.Request request = DockerHttpClient.Request.builder()
                .method(DockerHttpClient.Request.Method.POST)
                .path("/images/create?fromSrc=-&repo=" + REPOSITORY + "&tag=" + TAG)
                .putHeader("Content-Type", "application/x-tar")
                .bodyBytes(Files.readAllBytes(tar))
                .build();
        try (DockerHttpClient.Response response = http.execute(request)) {
            String body = new String(response.getBody().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (response.getStatusCode() != 200 || body.contains("\"error\"")) {
                throw new IOException("docker import failed (HTTP " + response.getStatusCode() + "): " + body.strip());
            }
        }
        return name;
    }
}
