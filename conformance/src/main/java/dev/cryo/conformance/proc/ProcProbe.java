package dev.cryo.conformance.proc;

import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.Sandbox;
import dev.cryo.conformance.sandbox.SandboxException;
import java.time.Duration;
import java.util.List;

/** Reads a process tree's /proc inside a sandbox, where its pids mean something, with a POSIX shell. */
public final class ProcProbe {
    // only sh builtins and readlink: the container has nothing but the host's /usr
    private static final String SCRIPT = """
            tree() { echo "$1"; for c in $(cat /proc/$1/task/*/children 2>/dev/null); do tree "$c"; done; }
            [ -d "/proc/$1" ] || exit 0
            for p in $(tree "$1"); do
              for t in /proc/$p/task/*; do
                st=; pp=; pnd=; shd=; blk=; ign=; cgt=
                while read -r k v rest; do
                  case $k in
                    State:) st=$v;; PPid:) pp=$v;; SigPnd:) pnd=$v;; ShdPnd:) shd=$v;;
                    SigBlk:) blk=$v;; SigIgn:) ign=$v;; SigCgt:) cgt=$v;;
                  esac
                done < "$t/status"
                echo "T $p ${t##*/} $pp $st $pnd $shd $blk $ign $cgt"
              done
              while read -r range perms off dev ino path; do echo "M $p $range $perms $off $path"; done < /proc/$p/maps
              for fd in /proc/$p/fd/*; do
                n=${fd##*/}; fl=
                while read -r k v; do [ "$k" = flags: ] && fl=$v; done < "/proc/$p/fdinfo/$n"
                echo "F $p $n $(readlink "$fd") $fl"
              done
            done
            """;

    private ProcProbe() {
    }

    public static ProcSnapshot snapshot(Sandbox sandbox, int rootPid, Duration timeout) throws SandboxException {
        ExecResult result = sandbox.exec(List.of("sh", "-c", SCRIPT, "probe", Integer.toString(rootPid)), timeout);
        if (result.timedOut()) {
            throw new SandboxException("reading /proc of pid " + rootPid + " took longer than " + timeout.toSeconds() + " s");
        }
        return ProcSnapshot.parse(result.stdout());
    }
}
