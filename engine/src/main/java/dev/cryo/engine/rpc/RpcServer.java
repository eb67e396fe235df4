package dev.cryo.engine.rpc;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.cryo.engine.ActionScripts;
import dev.cryo.engine.CryoException;
import dev.cryo.engine.check.CheckReport;
import dev.cryo.engine.check.Feature;
import dev.cryo.engine.check.KernelCheck;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SeqPacket;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.rpc.criu_dump_resp;
import dev.cryo.image.rpc.criu_features;
import dev.cryo.image.rpc.criu_notify;
import dev.cryo.image.rpc.criu_opts;
import dev.cryo.image.rpc.criu_req;
import dev.cryo.image.rpc.criu_req_type;
import dev.cryo.image.rpc.criu_resp;
import dev.cryo.image.rpc.criu_restore_resp;
import dev.cryo.image.rpc.criu_version;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.stream.Collectors;

/**
 * CRIU's RPC on one connection, as {@code criu swrk} and each connection of {@code criu service} serve it: read a
 * {@code criu_req}, serve it, answer one {@code criu_resp}; with {@code keep_open} (or after a PRE_DUMP, which
 * CRIU follows with more pre-dumps and the final dump on the same connection) read the next. During a dump or
 * restore the engine stops at each action point and sends a NOTIFY, then waits for the caller's answer.
 *
 * <p>Every request gets an answer: one Cryo cannot serve gets CRIU's error reply ({@code success: false},
 * {@code cr_errmsg}, {@code cr_errno}), never a closed socket.
 */
public final class RpcServer {
    /** The CRIU release whose RPC, options and images Cryo follows: what VERSION reports. */
    public static final int CRIU_MAJOR = 4, CRIU_MINOR = 2, CRIU_SUBLEVEL = 0;

    private final int sk;
    private final int peer;
    private final Log log;

    /**
     * @param sk  a connected SOCK_SEQPACKET socket
     * @param log the server's own log (requests that name a log_file also log there)
     */
    public RpcServer(int sk, Log log) throws SyscallException {
        this.sk = sk;
        this.peer = SeqPacket.peerPid(sk);
        this.log = log;
    }

    /** Serves requests until one without keep_open is answered or the caller closes its end. */
    public void serve() {
        boolean afterPreDump = false;
        while (true) {
            criu_req req;
            try {
                byte[] record = SeqPacket.receive(sk);
                if (record == null) {
                    return; // the caller is done
                }
                req = criu_req.parseFrom(record);
            } catch (InvalidProtocolBufferException e) {
                reply(error(criu_req_type.EMPTY, 74 /* EBADMSG */, "cannot read the request: it is not a criu_req ("
                        + e.getMessage() + ")"));
                return;
            } catch (SyscallException e) {
                log.error("RPC connection from pid %d: %s", peer, e.getMessage());
                return;
            }
            if (afterPreDump && req.getType() != criu_req_type.PRE_DUMP && req.getType() != criu_req_type.DUMP) {
                reply(error(req.getType(), 22, "after a PRE_DUMP only another PRE_DUMP or the final DUMP may follow on "
                        + "the same connection, not " + req.getType()));
                return;
            }
            log.info("RPC request %s from pid %d", req.getType(), peer);
            criu_resp resp = serve(req);
            if (!reply(resp)) {
                return;
            }
            afterPreDump = resp.getSuccess() && req.getType() == criu_req_type.PRE_DUMP;
            if (!resp.getSuccess() || !(req.getKeepOpen() || afterPreDump)) {
                return;
            }
        }
    }

    /** Serves one request; the answer, never an exception. */
    criu_resp serve(criu_req req) {
        criu_req_type type = req.getType();
        try {
            return switch (type) {
                case DUMP -> dump(req, false);
                case PRE_DUMP, SINGLE_PRE_DUMP -> dump(req, true);
                case RESTORE -> restore(req);
                case CHECK -> check();
                case FEATURE_CHECK -> featureCheck(req);
                case VERSION -> version();
                case WAIT_PID -> waitPid(req);
                case NOTIFY -> error(type, 22, "NOTIFY answers a notification; there is none pending");
                case PAGE_SERVER, PAGE_SERVER_CHLD -> error(type, 95, "Cryo has no page server: dump to images_dir_fd");
                case CPUINFO_DUMP, CPUINFO_CHECK -> error(type, 95, "Cryo does not dump or check CPU info: a restore "
                        + "checks the registers' xsave layout itself");
                default -> error(criu_req_type.EMPTY, 22, "invalid request type " + type);
            };
        } catch (RuntimeException | LinkageError e) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            log.debug("%s", trace);
            return error(type, 0, "unexpected " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    private criu_resp dump(criu_req req, boolean preDump) {
        criu_req_type type = req.getType();
        criu_opts o = req.getOpts();
        if (!req.hasOpts()) {
            return error(type, 22, type + " needs criu_opts with images_dir_fd");
        }
        RpcOptions opts;
        Log runLog;
        try {
            opts = RpcOptions.of(o, peer);
            runLog = opts.openLog();
        } catch (RpcException e) {
            return failed(type, e);
        }
        try {
            logRequest(runLog, o);
            DumpOptions d = opts.dump(preDump);
            runLog.info("cryo swrk: %s of pid %d to %s (requested by pid %d)", type, d.pid(), d.imagesDir(), peer);
            Dumper.dump(d, runLog, opts.notifyScripts() ? notifications(runLog) : ActionScripts.NONE);
            dev.cryo.engine.WorkDir.copyStats(d.imagesDir(), opts.workDir, "stats-dump", runLog);
            criu_resp.Builder r = criu_resp.newBuilder().setType(type).setSuccess(true);
            if (!preDump) {
                r.setDump(criu_dump_resp.newBuilder().setRestored(false));
            }
            return r.build();
        } catch (RpcException e) {
            runLog.error("%s", e.getMessage());
            return failed(type, e);
        } catch (CryoException e) {
            runLog.error("%s", e.getMessage());
            return error(type, errnoOf(e), e.getMessage());
        } finally {
            runLog.close();
        }
    }

    private criu_resp restore(criu_req req) {
        criu_req_type type = req.getType();
        if (!req.hasOpts()) {
            return error(type, 22, "RESTORE needs criu_opts with images_dir_fd");
        }
        RpcOptions opts;
        Log runLog;
        try {
            opts = RpcOptions.of(req.getOpts(), peer);
            runLog = opts.openLog();
        } catch (RpcException e) {
            return failed(type, e);
        }
        try {
            logRequest(runLog, req.getOpts());
            RestoreOptions r = opts.restore();
            runLog.info("cryo swrk: RESTORE from %s (requested by pid %d)", r.imagesDir(), peer);
            int pid = Restorer.restoreTree(r, runLog, opts.notifyScripts() ? notifications(runLog) : ActionScripts.NONE);
            dev.cryo.engine.WorkDir.copyStats(r.imagesDir(), opts.workDir, "stats-restore", runLog);
            opts.reportStatus(runLog);
            return criu_resp.newBuilder().setType(type).setSuccess(true)
                    .setRestore(criu_restore_resp.newBuilder().setPid(pid)).build();
        } catch (RpcException e) {
            runLog.error("%s", e.getMessage());
            return failed(type, e);
        } catch (CryoException e) {
            runLog.error("%s", e.getMessage());
            return error(type, errnoOf(e), e.getMessage());
        } finally {
            runLog.close();
        }
    }

    /** The caller's criu_opts as sent, at -v4: what a runtime asked for is in the log when a request fails. */
    private static void logRequest(Log runLog, criu_opts o) {
        if (runLog.enabled(Log.DEBUG)) {
            runLog.debug("criu_opts: %s", com.google.protobuf.TextFormat.printer().shortDebugString(o));
        }
    }

    /** CRIU's check: success when this kernel has everything dump and restore need. */
    private criu_resp check() {
        CheckReport report = new KernelCheck().report(Feature.listed(false));
        if (report.canDumpAndRestore()) {
            return criu_resp.newBuilder().setType(criu_req_type.CHECK).setSuccess(true).build();
        }
        String missing = report.missingRequired().stream().map(r -> r.feature().featureName())
                .collect(Collectors.joining(", "));
        return error(criu_req_type.CHECK, 95, "this kernel lacks what Cryo needs: " + missing
                + " (cryo check says more)");
    }

    /**
     * The features asked about, each answered: memory tracking is always there (content hashes need nothing from
     * the kernel, and the kernel's trackers are used when present); lazy pages and the pidfd store are not.
     */
    private criu_resp featureCheck(criu_req req) {
        criu_features asked = req.getFeatures();
        criu_features.Builder have = criu_features.newBuilder();
        if (asked.hasMemTrack()) {
            have.setMemTrack(true);
        }
        if (asked.hasLazyPages()) {
            have.setLazyPages(false);
        }
        if (asked.hasPidfdStore()) {
            have.setPidfdStore(false);
        }
        return criu_resp.newBuilder().setType(criu_req_type.FEATURE_CHECK).setSuccess(true).setFeatures(have).build();
    }

    private criu_resp version() {
        return criu_resp.newBuilder().setType(criu_req_type.VERSION).setSuccess(true)
                .setVersion(criu_version.newBuilder().setMajorNumber(CRIU_MAJOR).setMinorNumber(CRIU_MINOR)
                        .setSublevel(CRIU_SUBLEVEL).setGitid("cryo-" + cryoVersion()).setName("Cryo"))
                .build();
    }

    /** WAIT_PID: the wait status of a child of this service (a tree it restored), as waitpid gives it. */
    private criu_resp waitPid(criu_req req) {
        NativeBuffer status = NativeBuffer.allocate(8);
        try {
            Syscall.call("wait4(" + req.getPid() + ")", Syscall.WAIT4, req.getPid(), status.address(), 0x40000000, 0);
            return criu_resp.newBuilder().setType(criu_req_type.WAIT_PID).setSuccess(true)
                    .setStatus(status.getInt(0)).build();
        } catch (SyscallException e) {
            return error(criu_req_type.WAIT_PID, e.errno(), "cannot wait for pid " + req.getPid() + ": "
                    + e.getMessage());
        }
    }

    /** The caller's side of the action points: a NOTIFY out, its answer in, before the engine goes on. */
    private ActionScripts notifications(Log runLog) {
        return (action, pid) -> {
            criu_notify.Builder n = criu_notify.newBuilder().setScript(action);
            if (pid > 0) {
                n.setPid(pid);
            }
            runLog.info("notify: %s%s", action, pid > 0 ? " (pid " + pid + ")" : "");
            criu_req answer;
            try {
                SeqPacket.send(sk, criu_resp.newBuilder().setType(criu_req_type.NOTIFY).setSuccess(true).setNotify(n)
                        .build().toByteArray());
                byte[] record = SeqPacket.receive(sk);
                if (record == null) {
                    throw new CryoException("notification '" + action + "': the caller closed the RPC connection "
                            + "instead of answering");
                }
                answer = criu_req.parseFrom(record);
            } catch (SyscallException | InvalidProtocolBufferException e) {
                throw new CryoException("notification '" + action + "': " + e.getMessage(), e);
            }
            if (answer.getType() != criu_req_type.NOTIFY) {
                throw new CryoException("notification '" + action + "': the caller answered with " + answer.getType()
                        + " instead of NOTIFY");
            }
            if (!answer.getNotifySuccess()) {
                throw new CryoException("notification '" + action + "' failed on the caller's side (pid " + peer + ")");
            }
        };
    }

    private boolean reply(criu_resp resp) {
        try {
            SeqPacket.send(sk, resp.toByteArray());
            return true;
        } catch (SyscallException e) {
            log.error("cannot answer %s to pid %d: %s", resp.getType(), peer, e.getMessage());
            return false;
        }
    }

    private static criu_resp failed(criu_req_type type, RpcException e) {
        return error(type, e.errno, e.getMessage());
    }

    /** CRIU's error reply. */
    static criu_resp error(criu_req_type type, int errno, String message) {
        criu_resp.Builder r = criu_resp.newBuilder().setType(type).setSuccess(false).setCrErrmsg(message);
        r.setCrErrno(errno);
        return r.build();
    }

    /** The errno behind a failure, when a syscall's is in its causes; 0 otherwise. */
    static int errnoOf(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SyscallException s) {
                return s.errno();
            }
        }
        return 0;
    }

    static String cryoVersion() {
        Package p = RpcServer.class.getPackage();
        String v = p == null ? null : p.getImplementationVersion();
        return v == null ? "0.1.0" : v;
    }
}
