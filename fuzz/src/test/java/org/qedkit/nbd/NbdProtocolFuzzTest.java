package org.qedkit.nbd;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.CreateOptions;
import org.qedkit.QedImage;
import org.qedkit.fuzz.FuzzScratch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Coverage-guided fuzzing of the NBD server's handshake and request parsing: the fuzzer's
 * choices make everything one client sends ({@link #script}: options and requests in the
 * protocol's framing with hostile fields, then raw bytes), fed to a {@link Connection}
 * through an in-memory channel in pieces of fuzzer-chosen sizes, as a socket delivers them.
 *
 * <p>What must hold for every input: the connection ends (no hang: Jazzer's timeout), no
 * exception escapes the server's threads (a bug, not a hostile client), and the image the
 * client wrote, trimmed and zeroed through is consistent afterwards ({@link QedImage#check}).
 * In the default tests JUnit runs every kept input under
 * {@code src/test/resources/org/qedkit/nbd/NbdProtocolFuzzTestInputs/session/}; long runs
 * use {@code fuzz/run --target nbd}.
 */
public final class NbdProtocolFuzzTest {
    /** The entry point Jazzer's standalone driver calls, once per input. */
    public static void fuzzerTestOneInput(FuzzedDataProvider data) throws IOException {
        boolean readOnly = data.consumeBoolean();
        int chunk = data.consumeInt(1, 4096);
        ByteBuffer input = script(data);
        Path image = Files.createTempFile(FuzzScratch.directory(), "nbd", ".qed");
        try {
            QedImage.create(image, CreateOptions.ofSize(IMAGE_SIZE).withClusterSize(4096).withTableSize(1));
            AtomicReference<Throwable> bug = new AtomicReference<>();
            ThreadFactory threads = r -> {
                Thread t = Thread.ofPlatform().daemon().unstarted(r);
                t.setUncaughtExceptionHandler((thread, e) -> bug.compareAndSet(null, e));
                return t;
            };
            try (QedImage open = QedImage.open(image)) {
                NbdExport export = NbdExport.of("", open).withReadOnly(readOnly).withUnmap(true);
                Connection connection = new Connection(new ScriptedChannel(input, chunk), ExportCatalog.of(Map.of("", export)),
                        true, 8, threads, () -> { });
                Thread reader = threads.newThread(connection);
                reader.start();
                reader.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            if (bug.get() != null) {
                throw new AssertionError("the server's thread failed", bug.get());
            }
            CheckResult check = QedImage.check(image, CheckMode.REPORT);
            if (!check.isClean()) {
                throw new AssertionError("the image is not consistent after the session: " + check);
            }
        } finally {
            Files.deleteIfExists(image);
        }
    }

    @FuzzTest(maxDuration = "60s")
    void session(FuzzedDataProvider data) throws IOException {
        fuzzerTestOneInput(data);
    }

    /**
     * What the client sends, built from the fuzzer's choices in the protocol's own shape (so
     * mutations change fields, not framing): client flags, options with any code and any
     * declared length, then (mostly) a well-formed handshake end, then requests with any
     * flags, command, offset and length and a payload that may be short, then raw bytes.
     */
    private static ByteBuffer script(FuzzedDataProvider data) {
        ByteBuffer b = ByteBuffer.allocate(1 << 20);
        b.putInt(data.consumeBoolean() ? 3 : data.consumeInt());
        int options = data.consumeInt(0, 6);
        for (int i = 0; i < options && b.remaining() > 64 * 1024; i++) {
            b.putLong(data.consumeInt(0, 31) == 0 ? data.consumeLong() : NbdWire.IHAVEOPT);
            b.putInt(data.consumeBoolean() ? data.consumeInt(0, 12) : data.consumeInt());
            byte[] body = data.consumeBytes(data.consumeInt(0, 512));
            b.putInt(data.consumeBoolean() ? body.length : data.consumeInt());
            b.put(body);
        }
        if (data.consumeInt(0, 7) != 0) {
            b.put(HANDSHAKE_END);
        }
        int requests = data.consumeInt(0, 24);
        for (int i = 0; i < requests && b.remaining() > 64 * 1024; i++) {
            b.putInt(data.consumeInt(0, 31) == 0 ? data.consumeInt() : NbdWire.REQUEST_MAGIC);
            b.putShort((short) (data.consumeBoolean() ? data.consumeInt(0, 31) : data.consumeInt()));
            int type = data.consumeBoolean() ? data.consumeInt(0, 8) : data.consumeInt(0, 65535);
            b.putShort((short) type);
            b.putLong(data.consumeLong());
            b.putLong(data.consumeBoolean() ? data.consumeLong(0, IMAGE_SIZE) : data.consumeLong());
            int length = data.consumeBoolean() ? data.consumeInt(0, (int) IMAGE_SIZE) : data.consumeInt();
            b.putInt(length);
            if (type == NbdWire.CMD_WRITE) {
                int sent = data.consumeBoolean() ? Math.min(Integer.toUnsignedLong(length) > 65536 ? 0 : length, 65536)
                        : data.consumeInt(0, 4096);
                b.put(data.consumeBytes(Math.max(0, Math.min(sent, b.remaining() - 4096))));
            }
        }
        byte[] rest = data.consumeRemainingAsBytes();
        b.put(rest, 0, Math.min(rest.length, b.remaining()));
        return b.flip();
    }

    private static final long IMAGE_SIZE = 1L << 20;

    /** The well-formed end of a handshake: structured replies, both contexts, GO for "". */
    private static final byte[] HANDSHAKE_END = handshakeEnd();

    private static byte[] handshakeEnd() {
        byte[] base = "base:allocation".getBytes(StandardCharsets.UTF_8);
        byte[] depth = "qemu:allocation-depth".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(16 + (16 + 8 + 8 + base.length + depth.length) + (16 + 6));
        b.putLong(NbdWire.IHAVEOPT).putInt(NbdWire.OPT_STRUCTURED_REPLY).putInt(0);
        b.putLong(NbdWire.IHAVEOPT).putInt(NbdWire.OPT_SET_META_CONTEXT).putInt(8 + 8 + base.length + depth.length)
                .putInt(0).putInt(2).putInt(base.length).put(base).putInt(depth.length).put(depth);
        b.putLong(NbdWire.IHAVEOPT).putInt(NbdWire.OPT_GO).putInt(6).putInt(0).putShort((short) 0);
        return b.array();
    }

    /** The client's side of a connection: hands out the script in pieces, then the end; drops what the server writes. */
    private static final class ScriptedChannel implements ByteChannel {
        private final ByteBuffer script;
        private final int chunk;
        private volatile boolean open = true;

        ScriptedChannel(ByteBuffer script, int chunk) {
            this.script = script;
            this.chunk = chunk;
        }

        @Override
        public synchronized int read(ByteBuffer dst) throws IOException {
            if (!open) {
                throw new java.nio.channels.ClosedChannelException();
            }
            if (!script.hasRemaining()) {
                return -1;
            }
            int n = Math.min(Math.min(chunk, dst.remaining()), script.remaining());
            dst.put(script.slice(script.position(), n));
            script.position(script.position() + n);
            return n;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            if (!open) {
                throw new java.nio.channels.ClosedChannelException();
            }
            int n = src.remaining();
            src.position(src.limit());
            return n;
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() {
            open = false;
        }
    }
}
