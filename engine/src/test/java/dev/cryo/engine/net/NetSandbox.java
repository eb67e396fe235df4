package dev.cryo.engine.net;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A network namespace of the test's own (loopback up, nothing else) and a way to run test code inside it: the
 * code runs on a thread that entered it, so the processes and engine threads it starts are born there too.
 */
final class NetSandbox implements AutoCloseable {
    final String name = "cryo-t-" + UUID.randomUUID().toString().substring(0, 8);

    NetSandbox() throws IOException, InterruptedException {
        assumeTrue(run("ip", "netns", "add", name) == 0, "cannot create a network namespace (needs root and iproute2)");
        run("ip", "-n", name, "link", "set", "lo", "up");
    }

    Path path() {
        return Path.of("/run/netns", name);
    }

    <T> T call(Callable<T> work) throws Exception {
        return NetNamespace.call(path(), work);
    }

    void run(ThrowingRunnable work) throws Exception {
        call(() -> {
            work.run();
            return null;
        });
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** The nftables tables of Cryo's network lock in this namespace. */
    List<String> cryoTables() throws Exception {
        String out = call(() -> {
            Process p = new ProcessBuilder(NetworkLock.nftPath(), "list", "tables").redirectErrorStream(true).start();
            String s = new String(p.getInputStream().readAllBytes());
            p.waitFor(10, TimeUnit.SECONDS);
            return s;
        });
        return out.lines().filter(l -> l.contains(NetworkLock.TABLE_PREFIX)).toList();
    }

    /**
     * Runs each nft command (words split on spaces) from the calling thread, so in its network namespace: inside
     * {@link #run}, in this sandbox. Each must succeed.
     */
    static void nft(String... commands) throws IOException, InterruptedException {
        for (String command : commands) {
            List<String> cmd = new java.util.ArrayList<>(List.of(NetworkLock.nftPath()));
            cmd.addAll(List.of(command.split(" ")));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String o = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("nft " + command + " failed: " + o);
            }
        }
    }

    static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(20, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    @Override
    public void close() throws Exception {
        run("ip", "netns", "del", name);
    }
}
