package dev.cryo.engine.rpc;

/** A request Cryo refuses or fails: the message and errno go back in the reply (cr_errmsg, cr_errno). */
final class RpcException extends Exception {
    final int errno;

    RpcException(int errno, String message) {
        super(message);
        this.errno = errno;
    }
}
