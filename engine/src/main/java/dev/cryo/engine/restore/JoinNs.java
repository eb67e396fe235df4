package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A namespace the restored tree joins instead of getting the one its images describe: CRIU's {@code --join-ns
 * NS:PID|FILE} (and RPC {@code join_ns}, which runc sends for a container that shares another's ipc or uts
 * namespace, as a Kubernetes or Podman pod's containers do). Cryo joins network, uts and ipc namespaces: the root
 * task enters it right after it is made, so every other task is born there; nothing of the images is restored into
 * it (no host name, no SysV objects: they are the joined namespace's own).
 *
 * @param ns   net, uts or ipc
 * @param file the namespace file: {@code /proc/PID/ns/NS} for a pid, or the path given (a bind mount such as
 *             {@code /run/netns/NAME})
 */
public record JoinNs(String ns, Path file) {
    static final List<String> SUPPORTED = List.of("net", "uts", "ipc");

    /** Parses CRIU's {@code NS:PID} or {@code NS:FILE[,EXTRA]}; refuses what Cryo cannot join. */
    public static JoinNs parse(String text) throws CryoException {
        int colon = text.indexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new CryoException("--join-ns " + text + ": expected NS:PID or NS:FILE (for example net:/run/netns/x)");
        }
        String ns = text.substring(0, colon), where = text.substring(colon + 1);
        int comma = where.indexOf(',');
        if (comma >= 0) {
            if (!ns.equals("user")) {
                throw new CryoException("--join-ns " + text + ": extra options (after ',') are for a user namespace");
            }
            where = where.substring(0, comma);
        }
        return of(ns, where.matches("[0-9]+") ? "/proc/" + where + "/ns/" + ns : where);
    }

    /** The namespace {@code ns} of file {@code file}, checked: a kind Cryo joins, and a file that exists. */
    public static JoinNs of(String ns, String file) throws CryoException {
        if (!SUPPORTED.contains(ns)) {
            throw new CryoException("--join-ns " + ns + ":" + file + ": Cryo joins only net, uts and ipc namespaces"
                    + (ns.equals("pid") ? " (a pid namespace cannot be joined by a restore, as with CRIU)" : ""));
        }
        Path p = Path.of(file);
        if (!Files.exists(p)) {
            throw new CryoException("--join-ns " + ns + ":" + file + ": no such file (a namespace file, such as "
                    + "/proc/PID/ns/" + ns + " or a bind mount of one)");
        }
        return new JoinNs(ns, p);
    }

    /** The CLONE_NEW* flag of this kind. */
    long flag() {
        return switch (ns) {
            case "net" -> ContainerRestore.CLONE_NEWNET;
            case "uts" -> ContainerRestore.CLONE_NEWUTS;
            default -> ContainerRestore.CLONE_NEWIPC;
        };
    }

    @Override
    public String toString() {
        return ns + ":" + file;
    }
}
