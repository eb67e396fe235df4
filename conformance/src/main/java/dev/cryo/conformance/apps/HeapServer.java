package dev.cryo.conformance.apps;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The JVM app of the conformance suite and of the bench's start-up figure: a {@code com.sun.net.httpserver}
 * server on a thread pool, holding HEAP_MIB MiB of data made from a seed, and a key-value map its client fills.
 * It depends on nothing but the JDK, so any JDK from 17 on runs it from conformance/target/classes.
 * <pre>
 * java -cp conformance/target/classes dev.cryo.conformance.apps.HeapServer PORT HEAP_MIB THREADS
 * GET /            "ok" (the first answer the start-up figure waits for)
 * GET /digest      SHA-256 of all the data, hex
 * GET /chunk/N     SHA-256 of the data's N-th MiB, hex
 * PUT /kv/KEY      stores the body;   GET /kv/KEY  returns it
 * </pre>
 */
public final class HeapServer {
    private static final int MIB = 1 << 20;
    private final byte[][] chunks;
    private final Map<String, byte[]> values = new ConcurrentHashMap<>();

    private HeapServer(int mib) {
        chunks = new byte[mib][];
        for (int i = 0; i < mib; i++) {
            chunks[i] = new byte[MIB];
            new SplittableRandom(0x5eed_0000L + i).nextBytes(chunks[i]);
        }
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        int mib = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        HeapServer data = new HeapServer(mib);
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
        ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS,
                new LinkedBlockingQueue<>());
        // every pool thread from the start: the set of threads does not change under load
        pool.prestartAllCoreThreads();
        server.setExecutor(pool);
        server.createContext("/", data::handle);
        server.start();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            String method = exchange.getRequestMethod();
            if (path.equals("/")) {
                answer(exchange, 200, "ok\n".getBytes(StandardCharsets.US_ASCII));
            } else if (path.equals("/digest")) {
                answer(exchange, 200, hex(chunks, 0, chunks.length));
            } else if (path.startsWith("/chunk/")) {
                int n = Integer.parseInt(path.substring(7));
                if (n < 0 || n >= chunks.length) {
                    answer(exchange, 404, "no such chunk\n".getBytes(StandardCharsets.US_ASCII));
                } else {
                    answer(exchange, 200, hex(chunks, n, n + 1));
                }
            } else if (path.startsWith("/kv/") && method.equals("PUT")) {
                values.put(path.substring(4), exchange.getRequestBody().readAllBytes());
                answer(exchange, 200, "stored\n".getBytes(StandardCharsets.US_ASCII));
            } else if (path.startsWith("/kv/")) {
                byte[] value = values.get(path.substring(4));
                answer(exchange, value == null ? 404 : 200, value == null ? new byte[0] : value);
            } else {
                answer(exchange, 404, "not found\n".getBytes(StandardCharsets.US_ASCII));
            }
        } catch (RuntimeException e) {
            answer(exchange, 500, (e + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private static byte[] hex(byte[][] chunks, int from, int to) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (int i = from; i < to; i++) {
                sha.update(chunks[i]);
            }
            return (HexFormat.of().formatHex(sha.digest()) + "\n").getBytes(StandardCharsets.US_ASCII);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JDK has no SHA-256", e);
        }
    }

    private static void answer(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }
}
