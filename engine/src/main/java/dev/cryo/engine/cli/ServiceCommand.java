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
 * {@code cryo service --resident [--dir DIR] [--stop]}: the resident service bin/cryo hands its commands to
 * ({@link ResidentService}). {@code cryo service --address PATH}: CRIU's RPC on a listening unix socket, for clients that connect (pycriu's
 * use_sk, libcriu's criu_set_service_address). Connections are served one after the other, each as swrk serves
 * its socket; a request's own failure is answered and the service goes on.
 */
@Command(name = "service", sortOptions = false,
        description = {"Serve CRIU's RPC on a listening SOCK_SEQPACKET socket at PATH, one connection at a time, "
                + "until killed.",
                "With --resident: stay up and run the dump, pre-dump, restore -d, check and show commands that bin/cryo "
                + "hands over (root's only, through DIR, by default /run/cryo), without a JVM start each; "
                + "--resident --stop stops it."})
final class ServiceCommand implements CryoCommand {
    @Option(names = "--address", paramLabel = "PATH", description = "the socket to listen on (default: criu_service.socket)")
    String address = "criu_service.socket";

    @Option(names = {"-d", "--daemon"}, description = "not supported: start cryo service in the background (&) instead")
    boolean daemon;

    @Option(names = "--resident", description = "serve bin/cryo's commands in this JVM until stopped (SIGTERM or --stop)")
    boolean resident;

    @Option(names = "--dir", paramLabel = "DIR", description = "with --resident: the service's directory, root's with "
            + "mode 0700 (default: /run/cryo; bin/cryo reads CRYO_RESIDENT_DIR)")
    String dir;

    @Option(names = "--stop", description = "with --resident: stop the resident service and wait until it has ended")
    boolean stop;

    @Mixin
    CommonOptions common = new CommonOptions();

    @Override
    public int run(Session session) throws CryoException, UsageError, IOException {
        if (daemon) {
            throw new UsageError("cryo service does not daemonize itself: start it in the background (&) instead of -d");
        }
        if (!resident && (stop || dir != null)) {
            throw new UsageError((stop ? "--stop" : "--dir") + " goes with --resident");
        }
        if (resident) {
            Path where = dir == null ? ResidentService.DEFAULT_DIR : WorkingDirectory.absolute(dir);
            return stop ? stopResident(session, where) : new ResidentService(where, common.openLog(session)).serve();
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

    /** --resident --stop: SIGTERM to the service in {@code where}, then waits for it to end (a request first). */
    private static int stopResident(Session session, Path where) throws CryoException {
        String pid = ResidentService.runningService(where);
        if (pid == null) {
            session.err.println("cryo: no resident service runs in " + where);
            return 0;
        }
        java.util.Optional<ProcessHandle> service = ProcessHandle.of(Long.parseLong(pid));
        if (service.isEmpty()) {
            return 0;
        }
        dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, Long.parseLong(pid), 15);
        try {
            service.get().onExit().get(10, java.util.concurrent.TimeUnit.MINUTES);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new CryoException("the resident service (pid " + pid + ") has not ended 10 minutes after SIGTERM; "
                    + "it is still serving a request (kill -9 " + pid + " ends it without the clean-up a dump or restore does)");
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            throw new CryoException("waiting for the resident service (pid " + pid + ") to end: " + e);
        }
        session.out.println("Stopped the resident service (pid " + pid + ")");
        return 0;
    }
}
