package dev.cryo.engine.rpc;

import dev.cryo.image.rpc.criu_network_lock_method;
import dev.cryo.image.rpc.criu_opts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RPC's network_lock reaches the dump and the restore as --network-lock would; unset, Cryo's own lock. */
class RpcNetworkLockTest {
    @TempDir
    Path images;

    private RpcOptions with(criu_opts.Builder b) throws Exception {
        return RpcOptions.of(b.setImagesDir(images.toString()).setImagesDirFd(-1).setPid(1).build(), 0);
    }

    @Test
    void eachMethodIsTakenAndUnsetIsCryosOwn() throws Exception {
        assertEquals("nftables", with(criu_opts.newBuilder()).dump(false).networkLock(), "unset: not the field's default");
        assertEquals("nftables", with(criu_opts.newBuilder()).restore().networkLock());
        for (var m : new Object[][]{{criu_network_lock_method.IPTABLES, "iptables"},
                {criu_network_lock_method.NFTABLES, "nftables"}, {criu_network_lock_method.SKIP, "skip"}}) {
            var b = criu_opts.newBuilder().setNetworkLock((criu_network_lock_method) m[0]);
            assertEquals(m[1], with(b).dump(false).networkLock());
            assertEquals(m[1], with(b).restore().networkLock());
        }
    }
}
