package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** {@code cryo dump} and {@code cryo pre-dump}: checkpoint a process tree, or pre-copy its memory. */
@Command(name = "dump", sortOptions = false, customSynopsis = "cryo dump|pre-dump -t PID [-D DIR] [-o LOG] [-v4] [OPTIONS]",
        description = {"Checkpoint the process tree rooted at PID into the images directory.",
                "pre-dump copies memory only and leaves the tree running, for a later dump --prev-images-dir."})
final class DumpCommand implements CryoCommand, QuickParse.Target {
    /** CRIU's default bound on freezing the tree, in seconds. */
    static final int DEFAULT_TIMEOUT = 10;

    @Option(names = {"-t", "--tree"}, paramLabel = "PID", description = "root of the process tree to dump")
    String tree;

    @Option(names = {"-R", "--leave-running"}, description = "leave the tree running after the dump")
    boolean leaveRunning;

    @Option(names = {"-j", "--shell-job"}, negatable = true, description = "allow dumping a shell job (session and group of cryo's own)")
    boolean shellJob;

    @Option(names = "--tcp-established", negatable = true, description = "dump established TCP connections")
    boolean tcpEstablished;

    @Option(names = {"-x", "--ext-unix-sk"}, arity = "0..1", paramLabel = "IDS", fallbackValue = "",
            description = "allow external unix sockets")
    String extUnixSk;

    @Option(names = "--track-mem", negatable = true, description = "turn on the kernel's memory change tracker")
    boolean trackMem;

    @Option(names = "--prev-images-dir", paramLabel = "DIR", description = "images of the previous (pre-)dump, relative to -D")
    String prevImagesDir;

    @Option(names = "--pre-dump-mode", paramLabel = "splice|read", description = "how pre-dump copies memory (default: splice)")
    String preDumpMode = "splice";

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "bound on freezing the tree (default: 10)")
    String timeout;

    @Option(names = "--tcp-close", negatable = true,
            description = "established connections are taken as --tcp-established takes them, for a restore with "
                    + "--tcp-close that brings them back closed")
    boolean tcpClose;

    @Option(names = {"-d", "--restore-detached", "--daemon"}, negatable = true, description = "restore's option: ignored by dump")
    boolean restoreDetached;

    @Mixin
    CommonOptions common = new CommonOptions();

    @Mixin
    CriuOptions criu = new CriuOptions();

    /** The options above as {@link QuickParse} reads them; tests hold this to the annotations. */
    static final List<QuickParse.Opt> QUICK = QuickParse.with(QuickParse.join(CommonOptions.QUICK, CriuOptions.QUICK),
            new QuickParse.Opt('t', QuickParse.Kind.VALUE, "tree"),
            new QuickParse.Opt('R', QuickParse.Kind.FLAG, "leave-running"),
            new QuickParse.Opt('j', QuickParse.Kind.NEGATABLE, "shell-job"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-established"),
            new QuickParse.Opt('x', QuickParse.Kind.OPTIONAL_VALUE, "ext-unix-sk"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "track-mem"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "prev-images-dir"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "pre-dump-mode"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "timeout"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-close"),
            new QuickParse.Opt('d', QuickParse.Kind.NEGATABLE, "restore-detached", "daemon"));

    private final boolean preDump;

    DumpCommand(boolean preDump) {
        this.preDump = preDump;
    }

    String name() {
        return preDump ? "pre-dump" : "dump";
    }

    @Override
    public List<QuickParse.Opt> quickOptions() {
        return QUICK;
    }

    @Override
    public void set(String key, String value) {
        switch (key) {
            case "tree" -> tree = value;
            case "leave-running" -> leaveRunning = Boolean.parseBoolean(value);
            case "shell-job" -> shellJob = Boolean.parseBoolean(value);
            case "tcp-established" -> tcpEstablished = Boolean.parseBoolean(value);
            case "ext-unix-sk" -> extUnixSk = value;
            case "track-mem" -> trackMem = Boolean.parseBoolean(value);
            case "prev-images-dir" -> prevImagesDir = value;
            case "pre-dump-mode" -> preDumpMode = value;
            case "timeout" -> timeout = value;
            case "tcp-close" -> tcpClose = Boolean.parseBoolean(value);
            case "restore-detached" -> restoreDetached = Boolean.parseBoolean(value);
            default -> {
                if (!common.set(key, value) && !criu.set(key, value)) {
                    throw new IllegalArgumentException("no option " + key);
                }
            }
        }
    }

    /** The parsed options as the engine takes them; every check of a value happens here. */
    DumpOptions options() throws UsageError, CryoException {
        if (tree == null) {
            throw new UsageError("pid not specified (-t PID)");
        }
        int pid = positive("-t", tree);
        if (!preDumpMode.equals("splice") && !preDumpMode.equals("read")) {
            throw new UsageError("invalid argument for --pre-dump-mode: " + preDumpMode + " (splice or read)");
        }
        Duration bound = Duration.ofSeconds(timeout == null ? DEFAULT_TIMEOUT : positive("--timeout", timeout));
        criu.validate();
        String refused = criu.refusal(false);
        if (refused != null) {
            throw new UsageError("cannot " + name() + " pid " + pid + " with " + refused);
        }
        Path images = common.imagesDir();
        Path prev = prevImagesDir == null ? null : images.resolve(prevImagesDir).normalize();
        return new DumpOptions(pid, images, preDump, leaveRunning, shellJob, tcpEstablished, extUnixSk != null,
                trackMem, prev, preDumpMode, bound, criu.files().withExternal(
                dev.cryo.engine.resource.FileOptions.unixInodes(extUnixSk)), criu.leaveStopped && !leaveRunning, tcpClose,
                criu.skipInFlight, criu.networkLock == null ? "nftables" : criu.networkLock,
                ActionScripts.resolve(criu.actionScripts)).withFreezeCgroup(criu.freezeCgroup);
    }

    @Override
    public int run(Session session) throws CryoException, UsageError {
        DumpOptions options = options();
        dev.cryo.engine.sys.NeededCapabilities.require(name());
        Log log = common.openLog(session);
        log.info("cryo %s -t %d -D %s", name(), options.pid(), options.imagesDir());
        ActionScripts scripts = new ActionScripts(options.actionScripts(), options.imagesDir(), log);
        Dumper.dump(options, log, options.actionScripts().isEmpty() ? dev.cryo.engine.ActionScripts.NONE : scripts);
        dev.cryo.engine.WorkDir.copyStats(options.imagesDir(), common.workDir(), "stats-dump", log);
        if (criu.displayStats) {
            Stats.print(options.imagesDir(), "dump", session.out);
        }
        return 0;
    }

    /** A strictly positive decimal, or a CRIU-style "invalid argument" error naming the option. */
    static int positive(String option, String value) throws UsageError {
        try {
            int n = Integer.parseInt(value);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageError("invalid argument for " + option + ": " + value);
    }
}
