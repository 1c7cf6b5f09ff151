package org.qedkit.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Writes replies to one connection. Requests finish in any order on their own threads, so
 * every message is written whole under one lock: a reply's header and its payload are never
 * split by another reply's bytes (chunks of different structured replies may interleave
 * between messages, as the protocol allows).
 *
 * <h2>Replies held back while requests wait</h2>
 * The connection's reading thread answers small reads and writes itself. When it sends a
 * reply while the next request is already buffered ({@code requestsWaiting}), the reply is
 * held in a buffer instead of written, and goes out with the next message written, or when
 * the reading thread is about to wait for the client ({@link #sendHeld}, which
 * {@link RequestInput} runs before each read of the socket): a burst of requests is
 * answered with one {@code write} instead of one each. Only the reading thread's replies
 * are held (it is the thread that sends them on before it waits); any other thread's send
 * writes the held replies first, then its own.
 *
 * <p>A failed write means the client is gone or broken: the channel is closed, and every
 * later send fails at once, so request threads end quickly instead of each timing out.
 */
final class ReplySender {
    private static final int HELD_BYTES = 64 << 10;

    private final ByteChannel channel;
    private final Thread readingThread;
    private final BooleanSupplier requestsWaiting;
    private final ReentrantLock lock = new ReentrantLock();
    // Written only under the lock: headers and small payloads.
    private final ByteBuffer header = ByteBuffer.allocateDirect(64);
    private final ByteBuffer[] pair = new ByteBuffer[2];
    private final ByteBuffer[] triple = new ByteBuffer[3];
    private ByteBuffer held; // under the lock; write mode; allocated when first needed
    private volatile boolean broken;

    /** Replies for {@code channel}, none held back (for connections that answer on other threads only). */
    ReplySender(ByteChannel channel) {
        this(channel, null, () -> false);
    }

    /**
     * Replies for {@code channel}; those that {@code readingThread} sends while
     * {@code requestsWaiting} says more requests are buffered are held back (see above).
     */
    ReplySender(ByteChannel channel, Thread readingThread, BooleanSupplier requestsWaiting) {
        this.channel = channel;
        this.readingThread = readingThread;
        this.requestsWaiting = requestsWaiting;
    }

    /** Writes the replies held back, if any. */
    void sendHeld() throws IOException {
        lock.lock();
        try {
            if (held != null && held.position() > 0 && !broken) {
                header.clear().flip();
                send(null, false);
            }
        } finally {
            lock.unlock();
        }
    }

    boolean isBroken() {
        return broken;
    }

    /** A simple reply without data: the error, 0 for success (a read's data is streamed, see {@link #lockForStream()}). */
    void simple(long cookie, int error) throws IOException {
        lock.lock();
        try {
            header.clear();
            header.putInt(NbdWire.SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
            send(null);
        } finally {
            lock.unlock();
        }
    }

    /** The start of a simple read reply whose data follows in pieces ({@link #rawLocked}). */
    void lockForStream() {
        lock.lock();
    }

    void unlockStream() {
        lock.unlock();
    }

    /** Under {@link #lockForStream()}: the simple reply header of a successful read. */
    void simpleHeaderLocked(long cookie) throws IOException {
        header.clear();
        header.putInt(NbdWire.SIMPLE_REPLY_MAGIC).putInt(0).putLong(cookie).flip();
        send(null);
    }

    /** Under {@link #lockForStream()}: bytes of the payload being streamed. */
    void rawLocked(ByteBuffer data) throws IOException {
        header.clear().flip();
        send(data);
    }

    /** A structured chunk of type {@code NBD_REPLY_TYPE_NONE}: the request succeeded, nothing more. */
    void none(long cookie) throws IOException {
        lock.lock();
        try {
            chunkHeader(NbdWire.REPLY_FLAG_DONE, NbdWire.REPLY_TYPE_NONE, cookie, 0).flip();
            send(null);
        } finally {
            lock.unlock();
        }
    }

    /** An error chunk (always the last one) with a message for a human. */
    void error(long cookie, int error, String message) throws IOException {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        int length = Math.min(text.length, 1024);
        ByteBuffer payload = ByteBuffer.allocate(6 + length);
        payload.putInt(error).putShort((short) length).put(text, 0, length).flip();
        lock.lock();
        try {
            chunkHeader(NbdWire.REPLY_FLAG_DONE, NbdWire.REPLY_TYPE_ERROR, cookie, payload.remaining()).flip();
            send(payload);
        } finally {
            lock.unlock();
        }
    }

    /** An {@code OFFSET_DATA} chunk: {@code data}'s remaining bytes are the export's at {@code offset}. */
    void offsetData(long cookie, boolean done, long offset, ByteBuffer data) throws IOException {
        lock.lock();
        try {
            chunkHeader(done ? NbdWire.REPLY_FLAG_DONE : 0, NbdWire.REPLY_TYPE_OFFSET_DATA, cookie,
                    8 + data.remaining()).putLong(offset).flip();
            send(data);
        } finally {
            lock.unlock();
        }
    }

    /** Under {@link #lockForStream()}: the header of an {@code OFFSET_DATA} chunk whose data is streamed. */
    void offsetDataHeaderLocked(long cookie, boolean done, long offset, long length) throws IOException {
        chunkHeader(done ? NbdWire.REPLY_FLAG_DONE : 0, NbdWire.REPLY_TYPE_OFFSET_DATA, cookie,
                (int) (8 + length)).putLong(offset).flip();
        send(null);
    }

    /** An {@code OFFSET_HOLE} chunk: {@code length} bytes at {@code offset} read as zeros. */
    void offsetHole(long cookie, boolean done, long offset, long length) throws IOException {
        lock.lock();
        try {
            chunkHeader(done ? NbdWire.REPLY_FLAG_DONE : 0, NbdWire.REPLY_TYPE_OFFSET_HOLE, cookie, 12)
                    .putLong(offset).putInt((int) length).flip();
            send(null);
        } finally {
            lock.unlock();
        }
    }

    /** A {@code BLOCK_STATUS} chunk: {@code count} descriptors (length, flags) for one context. */
    void blockStatus(long cookie, boolean done, int contextId, int[] descriptors, int count) throws IOException {
        ByteBuffer payload = ByteBuffer.allocate(4 + 8 * count);
        payload.putInt(contextId);
        for (int i = 0; i < 2 * count; i++) {
            payload.putInt(descriptors[i]);
        }
        payload.flip();
        lock.lock();
        try {
            chunkHeader(done ? NbdWire.REPLY_FLAG_DONE : 0, NbdWire.REPLY_TYPE_BLOCK_STATUS, cookie,
                    payload.remaining()).flip();
            send(payload);
        } finally {
            lock.unlock();
        }
    }

    private ByteBuffer chunkHeader(int flags, int type, long cookie, int length) {
        header.clear();
        return header.putInt(NbdWire.STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type)
                .putLong(cookie).putInt(length);
    }

    /** Writes the header buffer and then {@code data} (if any), all of both, or holds them back (see above). */
    private void send(ByteBuffer data) throws IOException {
        send(data, true);
    }

    private void send(ByteBuffer data, boolean mayHold) throws IOException {
        if (broken) {
            throw new IOException("the connection is closed");
        }
        int size = header.remaining() + (data == null ? 0 : data.remaining());
        if (mayHold && Thread.currentThread() == readingThread && requestsWaiting.getAsBoolean()) {
            if (held == null) {
                held = ByteBuffer.allocateDirect(HELD_BYTES);
            }
            if (size <= held.remaining()) {
                held.put(header);
                if (data != null) {
                    held.put(data);
                }
                return;
            }
        }
        try {
            if (held != null && held.position() > 0) {
                held.flip();
                if (channel instanceof GatheringByteChannel gathering) {
                    // Each buffer once: a gathering write moves each array element's position,
                    // so a buffer named twice would be sent twice.
                    ByteBuffer[] all = data == null ? pair : triple;
                    all[0] = held;
                    all[1] = header;
                    if (data != null) {
                        all[2] = data;
                    }
                    while (held.hasRemaining() || header.hasRemaining() || (data != null && data.hasRemaining())) {
                        gathering.write(all);
                    }
                    all[all.length - 1] = null;
                }
                while (held.hasRemaining()) {
                    channel.write(held);
                }
                held.clear();
            }
            if (data == null || !data.hasRemaining()) {
                while (header.hasRemaining()) {
                    channel.write(header);
                }
            } else if (channel instanceof GatheringByteChannel gathering) {
                pair[0] = header;
                pair[1] = data;
                while (header.hasRemaining() || data.hasRemaining()) {
                    gathering.write(pair);
                }
                pair[1] = null;
            } else {
                while (header.hasRemaining()) {
                    channel.write(header);
                }
                while (data.hasRemaining()) {
                    channel.write(data);
                }
            }
        } catch (IOException | RuntimeException e) {
            breakConnection();
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    /**
     * Closes the connection in the middle of a reply whose payload cannot be completed: the
     * only way to tell the client that the bytes it has are not the whole reply.
     */
    void breakConnection() {
        broken = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // closed already
        }
    }
}
