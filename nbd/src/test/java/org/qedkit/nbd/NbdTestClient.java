package org.qedkit.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A small NBD client for tests: speaks the handshake and the transmission phase byte by
 * byte, so tests can send what real clients never would (bad magic, unknown commands,
 * oversized writes, requests past the end) and see exactly what comes back. Not
 * thread-safe; one test thread drives it.
 */
public final class NbdTestClient implements AutoCloseable {
    /** One reply to an option: its type and data. */
    public record OptionReply(int type, byte[] data) {
        /** {@return the data as text (error replies carry a message)} */
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    /** One reply message: a simple reply (type -1) or a structured chunk. */
    public record Reply(long cookie, int error, int flags, int type, byte[] payload) {
        /** {@return whether this is the last message of its reply} */
        public boolean done() {
            return type == -1 || (flags & 1) != 0;
        }
    }

    private final SocketChannel channel;
    private long lastCookie; // of the requests the ordinary-client methods send
    private long size;
    private int transmissionFlags;

    private NbdTestClient(SocketChannel channel) {
        this.channel = channel;
    }

    /**
     * Connects and reads the server's greeting.
     *
     * @param address the server's address
     * @return the client, before any option
     * @throws IOException when the connection fails or the greeting is wrong
     */
    public static NbdTestClient connect(SocketAddress address) throws IOException {
        SocketChannel channel = address instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
        channel.connect(address);
        NbdTestClient client = new NbdTestClient(channel);
        ByteBuffer greeting = client.read(18);
        if (greeting.getLong() != NbdWire.NBDMAGIC || greeting.getLong() != NbdWire.IHAVEOPT) {
            throw new IOException("not an NBD newstyle server");
        }
        client.send(ByteBuffer.allocate(4).putInt(NbdWire.CLIENT_FLAG_FIXED_NEWSTYLE | NbdWire.CLIENT_FLAG_NO_ZEROES).flip());
        return client;
    }

    /**
     * Connects, asks for structured replies and the given contexts, and enters transmission with {@code NBD_OPT_GO}.
     *
     * @param address  the server's address
     * @param export   the export name
     * @param contexts metadata contexts to select (may be none)
     * @return the client in the transmission phase
     * @throws IOException when a step fails
     */
    public static NbdTestClient open(SocketAddress address, String export, String... contexts) throws IOException {
        NbdTestClient client = connect(address);
        client.expectAck(client.option(NbdWire.OPT_STRUCTURED_REPLY, new byte[0]));
        if (contexts.length > 0) {
            client.expectAck(client.option(NbdWire.OPT_SET_META_CONTEXT, metaContextData(export, contexts)));
        }
        List<OptionReply> go = client.option(NbdWire.OPT_GO, goData(export));
        client.expectAck(go);
        return client;
    }

    /** {@return the export size from the last NBD_INFO_EXPORT} */
    public long size() {
        return size;
    }

    /** {@return the transmission flags from the last NBD_INFO_EXPORT} */
    public int transmissionFlags() {
        return transmissionFlags;
    }

    /**
     * Sends an option and reads its replies up to the final one (an ACK or an error).
     *
     * @param code the option
     * @param data its data
     * @return every reply, the final one last
     * @throws IOException when the connection fails
     */
    public List<OptionReply> option(int code, byte[] data) throws IOException {
        send(ByteBuffer.allocate(16 + data.length).putLong(NbdWire.IHAVEOPT).putInt(code).putInt(data.length).put(data).flip());
        List<OptionReply> replies = new ArrayList<>();
        while (true) {
            ByteBuffer head = read(20);
            if (head.getLong() != NbdWire.OPTION_REPLY_MAGIC) {
                throw new IOException("bad option reply magic");
            }
            head.getInt();
            int type = head.getInt();
            byte[] payload = new byte[head.getInt()];
            read(payload.length).get(payload);
            if (type == NbdWire.REP_INFO && payload.length == 12 && payload[0] == 0 && payload[1] == 0) {
                ByteBuffer info = ByteBuffer.wrap(payload, 2, 10);
                size = info.getLong();
                transmissionFlags = Short.toUnsignedInt(info.getShort());
            }
            replies.add(new OptionReply(type, payload));
            if (type == NbdWire.REP_ACK || type < 0) {
                return replies;
            }
        }
    }

    private void expectAck(List<OptionReply> replies) throws IOException {
        OptionReply last = replies.getLast();
        if (last.type() != NbdWire.REP_ACK) {
            throw new IOException("option refused: 0x" + Integer.toHexString(last.type()) + " " + last.text());
        }
    }

    /** {@return the data of NBD_OPT_GO or NBD_OPT_INFO for {@code export}, asking for nothing extra} */
    public static byte[] goData(String export) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(6 + name.length).putInt(name.length).put(name).putShort((short) 0).array();
    }

    /** {@return the data of a metadata context option for {@code export} and {@code queries}} */
    public static byte[] metaContextData(String export, String... queries) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        int length = 8 + name.length;
        for (String q : queries) {
            length += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(length).putInt(name.length).put(name).putInt(queries.length);
        for (String q : queries) {
            byte[] bytes = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(bytes.length).put(bytes);
        }
        return b.array();
    }

    /**
     * Sends one request without waiting for its reply.
     *
     * @param type    the command
     * @param flags   command flags
     * @param cookie  the cookie the reply will carry
     * @param offset  export offset
     * @param length  length
     * @param payload a write's data (or null)
     * @throws IOException when the connection fails
     */
    public void request(int type, int flags, long cookie, long offset, long length, byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(28 + (payload == null ? 0 : payload.length));
        b.putInt(NbdWire.REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                .putLong(offset).putInt((int) length);
        if (payload != null) {
            b.put(payload);
        }
        send(b.flip());
    }

    /**
     * Reads one reply message (simple, or one structured chunk). A simple reply to a read
     * is followed by data the caller knows the length of: pass it as {@code simpleReadLength}.
     *
     * @param simpleReadLength bytes of data after a successful simple reply, or 0
     * @return the message
     * @throws IOException when the connection fails or ends
     */
    public Reply reply(int simpleReadLength) throws IOException {
        ByteBuffer magic = read(4);
        int m = magic.getInt();
        if (m == NbdWire.SIMPLE_REPLY_MAGIC) {
            ByteBuffer rest = read(12);
            int error = rest.getInt();
            long cookie = rest.getLong();
            byte[] data = new byte[error == 0 ? simpleReadLength : 0];
            read(data.length).get(data);
            return new Reply(cookie, error, 0, -1, data);
        }
        if (m != NbdWire.STRUCTURED_REPLY_MAGIC) {
            throw new IOException("bad reply magic 0x" + Integer.toHexString(m));
        }
        ByteBuffer rest = read(16);
        int flags = Short.toUnsignedInt(rest.getShort());
        int type = Short.toUnsignedInt(rest.getShort());
        long cookie = rest.getLong();
        byte[] payload = new byte[rest.getInt()];
        read(payload.length).get(payload);
        int error = (type & 0x8000) != 0 ? ByteBuffer.wrap(payload).getInt() : 0;
        return new Reply(cookie, error, flags, type, payload);
    }

    /**
     * Reads every message of one structured reply (up to the one marked done).
     *
     * @return the chunks in the order they came
     * @throws IOException when the connection fails
     */
    public List<Reply> structuredReply() throws IOException {
        List<Reply> chunks = new ArrayList<>();
        Reply r;
        do {
            r = reply(0);
            chunks.add(r);
        } while (!r.done());
        return chunks;
    }

    /**
     * As an ordinary client: writes {@code data} at {@code offset} and waits for the reply.
     *
     * @param offset export offset
     * @param data   the bytes
     * @throws IOException when the connection fails or the server answers an error
     */
    public void write(long offset, byte[] data) throws IOException {
        call(NbdWire.CMD_WRITE, 0, offset, data.length, data);
    }

    /**
     * As an ordinary client: writes zeros over a range (allocated: {@code NBD_CMD_FLAG_NO_HOLE})
     * and waits for the reply.
     *
     * @param offset export offset
     * @param length bytes
     * @throws IOException when the connection fails or the server answers an error
     */
    public void writeZeroes(long offset, long length) throws IOException {
        call(NbdWire.CMD_WRITE_ZEROES, NbdWire.CMD_FLAG_NO_HOLE, offset, length, null);
    }

    /**
     * As an ordinary client: trims a range and waits for the reply.
     *
     * @param offset export offset
     * @param length bytes
     * @throws IOException when the connection fails or the server answers an error
     */
    public void trim(long offset, long length) throws IOException {
        call(NbdWire.CMD_TRIM, 0, offset, length, null);
    }

    /**
     * As an ordinary client: flushes and waits for the reply (everything written before is durable).
     *
     * @throws IOException when the connection fails or the server answers an error
     */
    public void flush() throws IOException {
        call(NbdWire.CMD_FLUSH, 0, 0, 0, null);
    }

    /** One request without reply data, waited for: its whole reply, an error in it thrown. */
    private void call(int type, int flags, long offset, long length, byte[] payload) throws IOException {
        long cookie = ++lastCookie;
        request(type, flags, cookie, offset, length, payload);
        Reply r;
        do {
            r = reply(0);
            if (r.cookie() != cookie) {
                throw new IOException("a reply for cookie " + r.cookie() + " while waiting for " + cookie);
            }
            if (r.error() != 0) {
                throw new IOException("the server answered error " + r.error() + " to command " + type + " at "
                        + offset);
            }
        } while (!r.done());
    }

    /**
     * Sends raw bytes.
     *
     * @param bytes what to send
     * @throws IOException when the connection fails
     */
    public void sendRaw(byte[] bytes) throws IOException {
        send(ByteBuffer.wrap(bytes));
    }

    /**
     * {@return true when the server closed the connection (a read sees its end) within the time}
     *
     * @param millis how long to wait
     * @throws IOException when the read fails otherwise
     */
    public boolean closedByServer(long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        channel.configureBlocking(false);
        try {
            ByteBuffer one = ByteBuffer.allocate(4096);
            while (System.currentTimeMillis() < deadline) {
                int n;
                try {
                    n = channel.read(one.clear());
                } catch (IOException reset) {
                    return true;
                }
                if (n < 0) {
                    return true;
                }
                if (n == 0) {
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
            }
            return false;
        } finally {
            channel.configureBlocking(true);
        }
    }

    /** Sends {@code NBD_CMD_DISC} when still connected, and closes. */
    @Override
    public void close() throws IOException {
        try {
            if (channel.isOpen()) {
                request(NbdWire.CMD_DISC, 0, 0, 0, 0, null);
            }
        } catch (IOException ignored) {
            // the server may have closed first
        } finally {
            channel.close();
        }
    }

    private void send(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    private ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException("the server closed the connection");
            }
        }
        return b.flip();
    }
}
