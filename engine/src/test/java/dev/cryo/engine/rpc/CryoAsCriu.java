package dev.cryo.engine.rpc;

import dev.cryo.engine.cli.Main;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** A program named criu that runs this build's Cryo, as a symlink to bin/cryo would after a build. */
final class CryoAsCriu {
    private CryoAsCriu() {
    }

    /** Writes {@code dir/bin/criu} and returns it. */
    static Path write(Path dir) throws IOException {
        Path criu = dir.resolve("bin/criu");
        Files.createDirectories(criu.getParent());
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.writeString(criu, "#!/bin/sh\n"
                + "for fd in 0 1 2; do [ -e /proc/$$/fd/$fd ] || eval \"exec $fd<>/dev/null\"; done\n"
                + "exec '" + java + "' -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '"
                + System.getProperty("java.class.path") + "' " + Main.class.getName() + " \"$@\"\n");
        Files.setPosixFilePermissions(criu, PosixFilePermissions.fromString("rwxr-xr-x"));
        return criu;
    }
}
