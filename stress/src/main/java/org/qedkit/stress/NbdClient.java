package org.qedkit.stress;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The crash campaign's NBD client: the fixed newstyle handshake with {@code NBD_OPT_GO} for
 * the default export, then one request at a time with simple replies (no structured replies:
 * the campaign never reads through NBD, it checks the image itself after the kill). A reply
 * with an error, or a connection that ends, is an {@link IOException}.
 */
final class NbdClient implements AutoCloseable {
    private static final long IHAVEOPT = 0x49484156454F5054L;
    private static final int OPT_GO = 7;
    private static final int CMD_WRITE = 1;
    private static final int CMD_FLUSH = 3;
    private static final int CMD_TRIM = 4;
    private static final int CMD_WRITE_ZEROES = 6;
    private static final int FLAG_NO_HOLE = 1 << 1;

    private final SocketChannel channel;
    private final ByteBuffer header = ByteBuffer.allocate(28);
    private final ByteBuffer reply = ByteBuffer.allocate(16);
    private long cookie;

    private NbdClient(SocketChannel channel) {
        this.channel = channel;
    }

    static NbdClient connect(UnixDomainSocketAddress address) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(address);
        NbdClient client = new NbdClient(channel);
        try {
            client.handshake();
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        return client;
    }

    private void handshake() throws IOException {
        read(ByteBuffer.allocate(18)); // NBDMAGIC, IHAVEOPT, handshake flags
        send(ByteBuffer.allocate(4).putInt(3).flip()); // fixed newstyle, no zeroes
        send(ByteBuffer.allocate(22).putLong(IHAVEOPT).putInt(OPT_GO).putInt(6).putInt(0).putShort((short) 0).flip());
        while (true) {
            ByteBuffer head = read(ByteBuffer.allocate(20));
            head.getLong();
            head.getInt();
            int type = head.getInt();
            int length = head.getInt();
            if (length > 0) {
                read(ByteBuffer.allocate(length));
            }
            if (type == 1) { // NBD_REP_ACK: transmission begins
                return;
            }
            if (type < 0) {
                throw new IOException("the server refused NBD_OPT_GO: 0x" + Integer.toHexString(type));
            }
        }
    }

    void write(long offset, byte[] data) throws IOException {
        request(CMD_WRITE, 0, offset, data.length, ByteBuffer.wrap(data));
    }

    void writeZeroes(long offset, long length) throws IOException {
        request(CMD_WRITE_ZEROES, FLAG_NO_HOLE, offset, length, null);
    }

    void trim(long offset, long length) throws IOException {
        request(CMD_TRIM, 0, offset, length, null);
    }

    void flush() throws IOException {
        request(CMD_FLUSH, 0, 0, 0, null);
    }

    private void request(int type, int flags, long offset, long length, ByteBuffer payload) throws IOException {
        header.clear();
        header.putInt(0x25609513).putShort((short) flags).putShort((short) type).putLong(++cookie)
                .putLong(offset).putInt((int) length).flip();
        send(header);
        if (payload != null) {
            send(payload);
        }
        reply.clear();
        read(reply);
        if (reply.getInt() != 0x67446698) {
            throw new IOException("not a simple reply");
        }
        int error = reply.getInt();
        if (reply.getLong() != cookie) {
            throw new IOException("a reply for another request");
        }
        if (error != 0) {
            throw new IOException("the server answered error " + error + " to command " + type + " at " + offset);
        }
    }

    private void send(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    private ByteBuffer read(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException("the server closed the connection");
            }
        }
        return b.flip();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
