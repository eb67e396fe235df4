package dev.cryo.engine.rpc;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Debian's pycriu (package criu) drives Cryo exactly as it drives CRIU: by exec'ing a binary named criu with
 * {@code swrk FD} (use_binary), or by connecting to {@code criu service} (use_sk).
 */
class PycriuTest {
    static final String PYTHON = "/usr/bin/python3";

    /** A pycriu client: VERSION, then DUMP, then RESTORE, each through the channel given. */
    static final String CLIENT = """
            import os, sys
            from pycriu.criu import criu as Criu
            from pycriu import rpc_pb2 as rpc
            mode, where, images, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
            def client():
                c = Criu()
                if mode == 'binary':
                    c.use_binary(where)
                else:
                    c.use_sk(where)
                c.opts.images_dir_fd = os.open(images, os.O_DIRECTORY)
                c.opts.log_level = 4
                c.opts.shell_job = True
                return c
            req = rpc.criu_req()
            req.type = rpc.VERSION
            v = client()._send_req_and_recv_resp(req)
            print('version', v.success, v.version.major_number, v.version.minor_number)
            c = client()
            c.opts.pid = pid
            c.opts.log_file = 'dump.log'
            c.dump()
            print('dumped')
            c = client()
            c.opts.log_file = 'restore.log'
            print('restored', c.restore().pid)
            """;

    @TempDir
    Path tmp;

    @BeforeEach
    void needRootAndPycriu() throws Exception {
        Privileges.assumeRootWithPtrace();
        boolean present = Files.isExecutable(Path.of(PYTHON))
                && new ProcessBuilder(PYTHON, "-c", "import pycriu").start().waitFor() == 0;
        if (!present) {
            System.out.println("SKIPPED: Debian's pycriu is not installed (apt-get install criu)");
        }
        assumeTrue(present, "Debian's pycriu is not installed (apt-get install criu)");
    }

    List<String> runClient(String mode, String where, Path images, int pid) throws Exception {
        Path script = tmp.resolve("client.py");
        Files.writeString(script, CLIENT);
        Process p = new ProcessBuilder(PYTHON, script.toString(), mode, where, images.toString(), Integer.toString(pid))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "pycriu client finished");
        assertEquals(0, p.exitValue(), "pycriu client: " + out
                + (Files.exists(images.resolve("dump.log")) ? Files.readString(images.resolve("dump.log")) : ""));
        return out.lines().toList();
    }

    void roundTrip(String mode, String where) throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = Files.createDirectories(tmp.resolve("img"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            List<String> out = runClient(mode, where, img, t.pid());
            assertEquals(List.of("version True 4 2", "dumped", "restored " + t.pid()), out);
            assertTrue(Files.exists(img.resolve("core-" + t.pid() + ".img")), "the images are CRIU's");
            int before = t.lines().size();
            t.awaitLines(before + 5);
            for (int i = 0; i < t.lines().size(); i++) {
                assertEquals(Integer.toString(i), t.lines().get(i), "line " + i);
            }
        }
    }

    @Test
    void pycriuDrivesCryoSwrkAsItDrivesCriu() throws Exception {
        roundTrip("binary", CryoAsCriu.write(tmp).toString());
    }

    @Test
    void pycriuTalksToCryoService() throws Exception {
        Path socket = tmp.resolve("criu_service.socket");
        List<String> cmd = new ArrayList<>(List.of(CryoAsCriu.write(tmp).toString(), "service", "--address", socket.toString()));
        Process service = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("service.log").toFile()).start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(socket) || !service.isAlive());
            assertTrue(service.isAlive(), "service runs: " + Files.readString(tmp.resolve("service.log")));
            roundTrip("service", socket.toString());
            assertTrue(service.isAlive(), "the service serves on after its connections");
        } finally {
            service.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
