package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.rpc.RpcServer;
import dev.cryo.engine.sys.SeqPacket;
import dev.cryo.engine.sys.SyscallException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code cryo swrk FD}: CRIU's RPC on an inherited socket. runc, go-criu, libcriu and pycriu start their engine
 * this way with one end of a SOCK_SEQPACKET socketpair; the other end is theirs.
 */
@Command(name = "swrk", sortOptions = false,
        description = {"Serve CRIU's RPC (rpc.proto over SOCK_SEQPACKET) on the inherited socket FD: one request, "
                + "or more with keep_open, then exit. This is how runc, Podman and pycriu start CRIU."})
final class SwrkCommand implements CryoCommand {
    @Parameters(index = "0", paramLabel = "FD", description = "the inherited SOCK_SEQPACKET socket")
    String fd;

    @Mixin
    CommonOptions common = new CommonOptions();

    @Override
    public int run(Session session) throws CryoException, UsageError {
        int sk;
        try {
            sk = Integer.parseInt(fd);
        } catch (NumberFormatException e) {
            throw new UsageError("invalid argument for swrk: " + fd + " (the number of an inherited socket)");
        }
        if (!SeqPacket.isSeqPacket(sk)) {
            throw new CryoException("cannot serve RPC on fd " + sk + ": it is not an open SOCK_SEQPACKET socket "
                    + "(the caller passes one end of a socketpair as this fd)");
        }
        Log log = common.openLog(session);
        try {
            new RpcServer(sk, log).serve();
        } catch (SyscallException e) {
            throw new CryoException("cannot serve RPC on fd " + sk + ": " + e.getMessage(), e);
        }
        return 0;
    }
}
