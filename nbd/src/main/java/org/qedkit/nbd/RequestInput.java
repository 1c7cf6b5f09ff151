package org.qedkit.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * The request side of a connection in transmission, read ahead: one {@code read(2)} takes
 * whatever the client has sent, often several requests with their payloads, and they are
 * handed out from the buffer without further system calls.
 *
 * <p>Why: a client that keeps sixteen 4 KiB writes in flight sends them back to back; read
 * exactly, each costs a {@code read} for its header and another for its payload
 * (docs/performance.md section 12, "Netty beside the server's own threads": reading ahead
 * is most of what an event loop gained there). A read as large as the buffer, when nothing
 * is buffered, goes straight into the caller's buffer: large payloads are not copied twice.
 *
 * <p>Before every read that may wait for the client, {@code beforeWaiting} runs: the
 * connection sends the replies it held back while more requests were buffered
 * ({@link ReplySender}), so a client never waits for a reply that sits in the server while
 * the server waits for the client. One thread uses it: the connection's reading thread.
 */
final class RequestInput implements ReadableByteChannel {
    private final ReadableByteChannel channel;
    private final int capacity;
    private ByteBuffer buffer; // read mode; null until the client's first bytes came
    private Runnable beforeWaiting = () -> { };

    RequestInput(ReadableByteChannel channel, int capacity) {
        this.channel = channel;
        this.capacity = capacity;
    }

    /** What runs before each read of the channel (set once, before the first read). */
    void beforeWaiting(Runnable action) {
        this.beforeWaiting = action;
    }

    /** Bytes read from the client and not handed out yet. */
    int buffered() {
        return buffer == null ? 0 : buffer.remaining();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) {
            return 0;
        }
        if (buffered() == 0) {
            beforeWaiting.run();
            if (dst.remaining() >= capacity) {
                return channel.read(dst);
            }
            if (buffer == null) {
                // The first read waits for the client's first request, which may never come:
                // the buffer is allocated once it has, so an idle connection holds none.
                int n = channel.read(dst);
                buffer = ByteBuffer.allocateDirect(capacity).flip();
                return n;
            }
            buffer.clear();
            int n = channel.read(buffer);
            buffer.flip();
            if (n <= 0) {
                return n;
            }
        }
        int n = Math.min(dst.remaining(), buffer.remaining());
        dst.put(dst.position(), buffer, buffer.position(), n);
        dst.position(dst.position() + n);
        buffer.position(buffer.position() + n);
        return n;
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }

    /** Closes the channel underneath (the connection's). */
    @Override
    public void close() throws IOException {
        channel.close();
    }
}
