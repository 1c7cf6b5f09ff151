package org.qedkit.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.NetworkChannel;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;

/**
 * One client, from its handshake to its last reply.
 *
 * <h2>Threads and memory</h2>
 * One platform thread reads the connection: the handshake, then request after request. A
 * write's payload is read by that thread in pieces of {@link Commands#PIECE} bytes and
 * stored in the image piece by piece as it arrives, so a 32 MiB write costs no 32 MiB
 * buffer; the reply follows at once (a write with FUA waits for its flush on a thread of its
 * own, so the next requests are read meanwhile). Reads of up to one piece are answered by
 * the reading thread too: from cached data that is a copy, cheaper than handing the request
 * to another thread (measured: docs/performance.md, section 12), at the price that a read
 * that must wait for the disk holds up the requests behind it on that connection. Every
 * other request runs on a virtual thread of its own and replies when it is done, in whatever
 * order requests finish. At most
 * {@code maxInFlight} such requests run at a time: the reading thread waits for a slot before
 * it reads the next request, which pushes back on a client that sends faster than the image
 * answers. Requests are read ahead, {@link #INPUT_BYTES} at a time ({@link RequestInput}),
 * and the reading thread's replies wait in a 64 KiB buffer while more requests are already
 * read ({@link ReplySender}): a burst costs one system call each way, not three per request.
 * Each running request holds at most one piece buffer, so a connection holds at most
 * {@code (maxInFlight + 1) * PIECE} bytes of piece buffers and those two, whatever its
 * clients send; an idle connection has allocated none of them.
 *
 * <h2>Ending</h2>
 * The client's {@code NBD_CMD_DISC}, its hanging up, a protocol violation, or the server's
 * {@link #shutDown()}: the reading thread stops reading, waits until every request it
 * started has replied, and closes the channel.
 */
final class Connection implements Runnable {
    /** Bytes of requests read ahead at a time (see {@link RequestInput}). */
    static final int INPUT_BYTES = 32 << 10;

    private final ByteChannel channel;
    private final ExportCatalog exports;
    private final boolean multiConn;
    private final int maxInFlight;
    private final Semaphore inFlight;
    private final ThreadFactory requestThreads;
    private final Runnable onHandshakeDone;
    private volatile boolean shuttingDown;

    Connection(ByteChannel channel, ExportCatalog exports, boolean multiConn, int maxInFlight,
               ThreadFactory requestThreads, Runnable onHandshakeDone) {
        this.channel = channel;
        this.exports = exports;
        this.multiConn = multiConn;
        this.maxInFlight = maxInFlight;
        this.inFlight = new Semaphore(maxInFlight);
        this.requestThreads = requestThreads;
        this.onHandshakeDone = onHandshakeDone;
    }

    @Override
    public void run() {
        try {
            Handshake.Session session = new Handshake(channel, exports, multiConn).negotiate();
            onHandshakeDone.run();
            if (session != null && !shuttingDown) {
                transmit(session);
            }
        } catch (IOException e) {
            // The client hung up or broke the protocol: this connection ends, nothing else.
            // (Anything else is a bug of the server: it ends this connection too, and its
            // thread reports it; the fuzz tests count on seeing it.)
        } finally {
            inFlight.acquireUninterruptibly(maxInFlight); // every started request has replied
            try {
                channel.close();
            } catch (IOException ignored) {
                // already closed by a failed reply
            }
        }
    }

    /**
     * Stops reading requests; the requests already read still get their replies, then the
     * connection closes. Safe from any thread, any number of times.
     */
    void shutDown() {
        shuttingDown = true;
        try {
            if (channel instanceof java.nio.channels.SocketChannel socket) {
                socket.shutdownInput(); // the reading thread sees the end of the stream
            } else {
                channel.close();
            }
        } catch (IOException ignored) {
            // the channel is closed already
        }
    }

    /** Closes the connection at once: for a handshake that took too long. */
    void abort() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closed already
        }
    }

    private void transmit(Handshake.Session session) throws IOException {
        RequestInput input = new RequestInput(channel, INPUT_BYTES);
        ReplySender replies = new ReplySender(channel, Thread.currentThread(),
                () -> input.buffered() >= NbdWire.REQUEST_HEADER_BYTES);
        input.beforeWaiting(() -> {
            try {
                replies.sendHeld();
            } catch (IOException e) {
                // the connection broke: the read that follows fails, or the loop sees it
            }
        });
        try {
            serveRequests(session, input, replies);
        } finally {
            try {
                replies.sendHeld(); // the last replies of a burst, before the connection closes
            } catch (IOException e) {
                // the client is gone
            }
        }
    }

    private void serveRequests(Handshake.Session session, RequestInput input, ReplySender replies) throws IOException {
        Commands commands = new Commands(session, replies);
        ByteBuffer header = ByteBuffer.allocate(NbdWire.REQUEST_HEADER_BYTES);
        while (!shuttingDown && !replies.isBroken()) {
            header.clear();
            if (!readRequestHeader(input, header)) {
                return; // the client hung up between requests
            }
            if (header.getInt() != NbdWire.REQUEST_MAGIC) {
                return; // not a request: the stream cannot be trusted any more
            }
            int flags = Short.toUnsignedInt(header.getShort());
            int type = Short.toUnsignedInt(header.getShort());
            long cookie = header.getLong();
            long offset = header.getLong();
            long length = Integer.toUnsignedLong(header.getInt());
            if (type == NbdWire.CMD_DISC) {
                return;
            }
            if (type == NbdWire.CMD_WRITE) {
                if (length > NbdWire.MAX_PAYLOAD) {
                    return; // the client was told the limit; reading on would mean buffering or skipping gigabytes
                }
                takeSlot(replies);
                Runnable rest;
                try {
                    rest = commands.write(input, flags, cookie, offset, length);
                } catch (IOException | RuntimeException e) {
                    inFlight.release();
                    throw e;
                }
                if (rest == null) {
                    inFlight.release();
                } else {
                    start(rest);
                }
                continue;
            }
            takeSlot(replies);
            if (type == NbdWire.CMD_READ && length <= Commands.PIECE) {
                // Small reads are answered by this thread: a hand-off to another thread costs
                // more than a copy out of the page cache (docs/performance.md, section 12).
                try {
                    commands.run(type, flags, cookie, offset, length);
                } finally {
                    inFlight.release();
                }
                continue;
            }
            start(() -> commands.run(type, flags, cookie, offset, length));
        }
    }

    /**
     * A slot for one more request in flight; when all are taken, the replies held back are
     * sent before waiting (the client may be waiting for them before it sends more).
     */
    private void takeSlot(ReplySender replies) throws IOException {
        if (!inFlight.tryAcquire()) {
            replies.sendHeld();
            inFlight.acquireUninterruptibly();
        }
    }

    /** Starts {@code request} on its own thread; its slot is given back when it ends. */
    private void start(Runnable request) {
        Thread thread = requestThreads.newThread(() -> {
            try {
                request.run();
            } finally {
                inFlight.release();
            }
        });
        if (thread == null) {
            inFlight.release();
            throw new IllegalStateException("no thread for a request");
        }
        thread.start();
    }

    /** Reads a request header; false when the client closed the connection cleanly before it. */
    private static boolean readRequestHeader(RequestInput input, ByteBuffer header) throws IOException {
        while (header.hasRemaining()) {
            if (input.read(header) < 0) {
                if (header.position() == 0) {
                    return false;
                }
                throw new EOFException("the client closed the connection within a request header");
            }
        }
        header.flip();
        return true;
    }

    /** TCP: replies go out as soon as they are written (Nagle's delay would add to every reply). */
    static void tune(NetworkChannel channel) throws IOException {
        if (channel.supportedOptions().contains(java.net.StandardSocketOptions.TCP_NODELAY)) {
            channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        }
    }
}
