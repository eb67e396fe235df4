package dev.cryo.engine.rpc;

import dev.cryo.engine.cli.Main;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SeqPacket;
import dev.cryo.engine.sys.Spawn;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.image.rpc.criu_opts;
import dev.cryo.image.rpc.criu_req;
import dev.cryo.image.rpc.criu_req_type;
import dev.cryo.image.rpc.criu_resp;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The caller's side of {@code cryo swrk}, as runc and go-criu do it: a SOCK_SEQPACKET socketpair, one end handed to
 * a freshly started {@code cryo swrk 3} (this build's classes, started with posix_spawn so the fd is inherited),
 * requests and answers as raw records of the messages generated from the same rpc.proto.
 */
final class SwrkClient implements AutoCloseable {
    final int sk;
    final int pid;
    private boolean closed;

    private SwrkClient(int sk, int pid) {
        this.sk = sk;
        this.pid = pid;
    }

    static SwrkClient start() throws Exception {
        int[] pair = SeqPacket.pair();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String[] argv = {java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "swrk", "3"};
        String[] env = System.getenv().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .toArray(String[]::new);
        int pid = Spawn.program(java, argv, env, pair[1], 3, true);
        SeqPacket.close(pair[1]);
        return new SwrkClient(pair[0], pid);
    }

    void send(criu_req req) throws Exception {
        SeqPacket.send(sk, req.toByteArray());
    }

    void sendRaw(byte[] record) throws Exception {
        SeqPacket.send(sk, record);
    }

    /** The next answer; null when swrk closed its end. */
    criu_resp receive() throws Exception {
        byte[] record = SeqPacket.receive(sk);
        return record == null ? null : criu_resp.parseFrom(record);
    }

    criu_resp call(criu_req req) throws Exception {
        send(req);
        return receive();
    }

    /** A notification seen by the caller: the script's name and the pid it carried (0 without). */
    record Notification(String script, int pid) {
    }

    /**
     * Sends {@code req} and answers its notifications with {@code answer} (true = success) until the final answer;
     * every notification is recorded in {@code seen}.
     */
    criu_resp callWithNotifications(criu_req req, List<Notification> seen, Function<String, Boolean> answer)
            throws Exception {
        send(req);
        while (true) {
            criu_resp resp = receive();
            if (resp == null || resp.getType() != criu_req_type.NOTIFY) {
                return resp;
            }
            seen.add(new Notification(resp.getNotify().getScript(),
                    resp.getNotify().hasPid() ? resp.getNotify().getPid() : 0));
            send(criu_req.newBuilder().setType(criu_req_type.NOTIFY)
                    .setNotifySuccess(answer.apply(resp.getNotify().getScript())).build());
        }
    }

    static List<String> scripts(List<Notification> seen) {
        List<String> s = new ArrayList<>();
        seen.forEach(n -> s.add(n.script()));
        return s;
    }

    static criu_req request(criu_req_type type) {
        return criu_req.newBuilder().setType(type).build();
    }

    static criu_req request(criu_req_type type, criu_opts.Builder opts) {
        return criu_req.newBuilder().setType(type).setOpts(opts).build();
    }

    /** An fd of this JVM on {@code dir}, close-on-exec: swrk must reach it as /proc/CALLER/fd/N, as CRIU does. */
    static int openDirectory(Path dir) throws Exception {
        byte[] p = dir.toString().getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(p.length + 1);
        b.put(0, p);
        b.buffer().put(p.length, (byte) 0);
        return (int) Syscall.call("open(" + dir + ")", Syscall.OPEN, b.address(), 0x10000 | 0x80000);
    }

    static void closeFd(int fd) {
        Syscall.raw(Syscall.CLOSE, fd);
    }

    /** Closes the caller's end and reaps swrk; its raw wait status. */
    int finish() {
        if (!closed) {
            closed = true;
            SeqPacket.close(sk);
        }
        return Reaper.reap(pid);
    }

    @Override
    public void close() {
        if (!closed) {
            finish();
        }
    }
}
