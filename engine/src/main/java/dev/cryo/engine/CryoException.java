package dev.cryo.engine;

/**
 * A failure the user should read: it names the pid, the resource and the step.
 * The CLI prints its message on one line and exits non-zero; it never prints a stack trace for it.
 */
public class CryoException extends Exception {
    public CryoException(String message) {
        super(message);
    }

    public CryoException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * Why a file operation failed, in words: NIO's exceptions carry only the path in their message ("/proc/x"),
     * which read after a path says nothing.
     */
    public static String reason(Throwable e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e == null ? "unknown error" : String.valueOf(e.getMessage());
    }
}
