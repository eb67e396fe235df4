package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** {@code cryo restore}: bring back the tree in the images directory. */
@Command(name = "restore", sortOptions = false, customSynopsis = "cryo restore [-D DIR] [-d] [-o LOG] [-v4] [OPTIONS] [--exec-cmd -- COMMAND ARGS]",
        description = {"Restore the process tree in the images directory.",
                "Without -d, cryo waits for the restored root and exits with its exit status."})
final class RestoreCommand implements CryoCommand, QuickParse.Target {
    @Option(names = {"-d", "--restore-detached", "--daemon"}, negatable = true,
            description = "return once the tree runs, instead of waiting for it")
    boolean detached;

    @Option(names = {"-j", "--shell-job"}, negatable = true, description = "restore a shell job into cryo's session and group")
    boolean shellJob;

    @Option(names = "--tcp-close", negatable = true, description = "restore connected TCP sockets closed")
    boolean tcpClose;

    @Option(names = "--tcp-established", negatable = true,
            description = "restore established TCP connections (those in the images are always restored)")
    boolean tcpEstablished;

    @Option(names = {"-t", "--tree"}, paramLabel = "PID", description = "dump's option: ignored, the images name the tree")
    String tree;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "bound on the restore's waits (default: 10)")
    String timeout;

    @Option(names = {"-R", "--leave-running"}, description = "dump's option: ignored by restore")
    boolean leaveRunning;

    @Option(names = {"-x", "--ext-unix-sk"}, arity = "0..1", paramLabel = "IDS", fallbackValue = "",
            description = "dump's option: restore reconnects the external peers the images name either way")
    String extUnixSk;

    @Option(names = "--track-mem", negatable = true, description = "dump's option: ignored by restore")
    boolean trackMem;

    @Option(names = "--prev-images-dir", paramLabel = "DIR",
            description = "dump's option: restore follows the images' own parent links")
    String prevImagesDir;

    @Option(names = "--pre-dump-mode", paramLabel = "splice|read", description = "pre-dump's option: ignored by restore")
    String preDumpMode;

    @Parameters(paramLabel = "COMMAND", arity = "0..*",
            description = "with --exec-cmd, after '--': the command cryo execs once the tree runs")
    List<String> execCommand = new ArrayList<>();

    @Mixin
    CommonOptions common = new CommonOptions();

    @Mixin
    CriuOptions criu = new CriuOptions();

    /** The options above as {@link QuickParse} reads them; tests hold this to the annotations. */
    static final List<QuickParse.Opt> QUICK = QuickParse.with(QuickParse.join(CommonOptions.QUICK, CriuOptions.QUICK),
            new QuickParse.Opt('d', QuickParse.Kind.NEGATABLE, "restore-detached", "daemon"),
            new QuickParse.Opt('j', QuickParse.Kind.NEGATABLE, "shell-job"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-close"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-established"),
            new QuickParse.Opt('t', QuickParse.Kind.VALUE, "tree"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "timeout"),
            new QuickParse.Opt('R', QuickParse.Kind.FLAG, "leave-running"),
            new QuickParse.Opt('x', QuickParse.Kind.OPTIONAL_VALUE, "ext-unix-sk"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "track-mem"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "prev-images-dir"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "pre-dump-mode"));

    @Override
    public List<QuickParse.Opt> quickOptions() {
        return QUICK;
    }

    @Override
    public void set(String key, String value) {
        switch (key) {
            case "restore-detached" -> detached = Boolean.parseBoolean(value);
            case "shell-job" -> shellJob = Boolean.parseBoolean(value);
            case "tcp-close" -> tcpClose = Boolean.parseBoolean(value);
            case "tcp-established" -> tcpEstablished = Boolean.parseBoolean(value);
            case "tree" -> tree = value;
            case "timeout" -> timeout = value;
            case "leave-running" -> leaveRunning = Boolean.parseBoolean(value);
            case "ext-unix-sk" -> extUnixSk = value;
            case "track-mem" -> trackMem = Boolean.parseBoolean(value);
            case "prev-images-dir" -> prevImagesDir = value;
            case "pre-dump-mode" -> preDumpMode = value;
            default -> {
                if (!common.set(key, value) && !criu.set(key, value)) {
                    throw new IllegalArgumentException("no option " + key);
                }
            }
        }
    }

    RestoreOptions options() throws UsageError, CryoException {
        Duration bound = Duration.ofSeconds(timeout == null ? DumpCommand.DEFAULT_TIMEOUT
                : DumpCommand.positive("--timeout", timeout));
        criu.validate();
        String refused = criu.refusal(true);
        if (refused != null) {
            throw new UsageError("cannot restore with " + refused);
        }
        if (criu.execCmd && execCommand.isEmpty()) {
            throw new UsageError("--exec-cmd needs the command after '--' (cryo restore ... --exec-cmd -- CMD ARGS)");
        }
        if (!criu.execCmd && !execCommand.isEmpty()) {
            throw new UsageError("unexpected argument " + execCommand.get(0) + " (a command after '--' needs --exec-cmd)");
        }
        // --exec-cmd: cryo returns at once, like -d, and the command it becomes waits for the tree instead
        return new RestoreOptions(common.imagesDir(), detached || criu.execCmd, shellJob, tcpClose,
                common.pidfilePath(), bound, criu.files(), criu.leaveStopped,
                criu.networkLock == null ? "nftables" : criu.networkLock,
                ActionScripts.resolve(criu.actionScripts))
                .withContainer(criu.root == null ? null : java.nio.file.Path.of(criu.root).toAbsolutePath().normalize(),
                        criu.emptyNs == null ? 0 : 0x40000000 /* CLONE_NEWNET */)
                .withCgroups(new dev.cryo.engine.resource.Cgroups.Options(criu.manageCgroups, criu.cgroupRoots))
                .withJoinNs(joinNs());
    }

    /** --join-ns, each checked (a kind Cryo joins, a file that exists); a wrong one is the user's error. */
    private java.util.List<dev.cryo.engine.restore.JoinNs> joinNs() throws UsageError {
        java.util.List<dev.cryo.engine.restore.JoinNs> out = new java.util.ArrayList<>();
        for (String j : criu.joinNs) {
            try {
                out.add(dev.cryo.engine.restore.JoinNs.parse(j));
            } catch (CryoException e) {
                throw new UsageError(e.getMessage());
            }
        }
        return out;
    }

    @Override
    public int run(Session session) throws CryoException, UsageError {
        RestoreOptions options = options();
        dev.cryo.engine.sys.NeededCapabilities.require("restore");
        Log log = common.openLog(session);
        if (tree != null) {
            log.warn("-t is ignored by restore: the images say which tree to restore");
        }
        log.info("cryo restore -D %s%s", options.imagesDir(), options.detached() ? " -d" : "");
        ActionScripts scripts = new ActionScripts(options.actionScripts(), options.imagesDir(), log);
        int status = Restorer.restore(options, log,
                options.actionScripts().isEmpty() ? dev.cryo.engine.ActionScripts.NONE : scripts);
        dev.cryo.engine.WorkDir.copyStats(options.imagesDir(), common.workDir(), "stats-restore", log);
        if (criu.displayStats) {
            Stats.print(options.imagesDir(), "restore", session.out);
        }
        if (criu.execCmd) {
            session.out.flush();
            session.err.flush();
            ExecCommand.exec(execCommand, log); // returns only on failure
        }
        return status;
    }
}
