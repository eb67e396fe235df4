package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.rpc.RpcServer;
import dev.cryo.engine.sys.SeqPacket;
import dev.cryo.engine.sys.SyscallException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code cryo service --address PATH}: CRIU's RPC on a listening unix socket, for clients that connect (pycriu's
 * use_sk, libcriu's criu_set_service_address). Connections are served one after the other, each as swrk serves
 * its socket; a request's own failure is answered and the service goes on.
 */
@Command(name = "service", sortOptions = false,
        description = {"Serve CRIU's RPC on a listening SOCK_SEQPACKET socket at PATH, one connection at a time, "
                + "until killed."})
final class ServiceCommand implements CryoCommand {
    @Option(names = "--address", paramLabel = "PATH", description = "the socket to listen on (default: criu_service.socket)")
    String address = "criu_service.socket";

    @Option(names = {"-d", "--daemon"}, description = "not supported: start cryo service in the background (&) instead")
    boolean daemon;

    @Mixin
    CommonOptions common = new CommonOptions();

    @Override
    public int run(Session session) throws CryoException, UsageError, IOException {
        if (daemon) {
            throw new UsageError("cryo service does not daemonize itself: start it in the background (&) instead of -d");
        }
        Path path = Path.of(address).toAbsolutePath().normalize();
        int listener;
        try {
            listener = SeqPacket.listen(path.toString(), 16);
        } catch (SyscallException e) {
            throw new CryoException("cannot listen on " + path + ": " + e.getMessage(), e);
        }
        Log log = common.openLog(session);
        Path pidfile = common.pidfilePath();
        if (pidfile != null) {
            Files.writeString(pidfile, ProcessHandle.current().pid() + "\n");
        }
        log.info("cryo service listening on %s", path);
        while (true) {
            int conn;
            try {
                conn = SeqPacket.accept(listener);
            } catch (SyscallException e) {
                if (e.errno() == 4 /* EINTR */ || e.errno() == 103 /* ECONNABORTED */) {
                    continue;
                }
                throw new CryoException("service on " + path + ": accept failed: " + e.getMessage(), e);
            }
            try {
                new RpcServer(conn, log).serve();
            } catch (SyscallException e) {
                log.error("service on %s: a connection was dropped: %s", path, e.getMessage());
            } finally {
                SeqPacket.close(conn);
            }
        }
    }
}
