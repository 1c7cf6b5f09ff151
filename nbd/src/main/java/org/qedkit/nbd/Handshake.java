package org.qedkit.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The fixed newstyle handshake of one connection: greets the client, answers its options one
 * by one, and ends with the export it chose ({@link Session}) or with nothing (the client
 * aborted, asked for an unknown export the old way, or broke the protocol).
 *
 * <p>Every option is read whole before it is answered, and none may carry more than
 * {@link NbdWire#MAX_OPTION_BYTES}: a client cannot make the server hold more than that. An
 * option that is malformed gets {@code NBD_REP_ERR_INVALID} and the handshake goes on; a
 * message that is not an option at all ends the connection, as the specification requires.
 */
final class Handshake {
    /** What a successful handshake agreed on. */
    record Session(NbdExport export, boolean structured, boolean baseAllocation, boolean allocationDepth) {
        static final int BASE_ALLOCATION_ID = 1;
        static final int ALLOCATION_DEPTH_ID = 2;

        boolean anyContext() {
            return baseAllocation || allocationDepth;
        }
    }

    private final ByteChannel channel;
    private final ExportCatalog exports;
    private final boolean multiConn;
    private final ByteBuffer head = ByteBuffer.allocate(16);
    private boolean noZeroes;
    private boolean structured;
    // The contexts the last NBD_OPT_SET_META_CONTEXT selected, and for which export.
    private String contextExport;
    private boolean baseAllocation;
    private boolean allocationDepth;

    Handshake(ByteChannel channel, ExportCatalog exports, boolean multiConn) {
        this.channel = channel;
        this.exports = exports;
        this.multiConn = multiConn;
    }

    /** Runs the handshake; returns the session, or null when the connection is to end. */
    Session negotiate() throws IOException {
        ByteBuffer greeting = ByteBuffer.allocate(18);
        greeting.putLong(NbdWire.NBDMAGIC).putLong(NbdWire.IHAVEOPT)
                .putShort((short) (NbdWire.FLAG_FIXED_NEWSTYLE | NbdWire.FLAG_NO_ZEROES)).flip();
        write(greeting);
        int clientFlags = readFully(4).getInt();
        if ((clientFlags & ~(NbdWire.CLIENT_FLAG_FIXED_NEWSTYLE | NbdWire.CLIENT_FLAG_NO_ZEROES)) != 0) {
            return null; // flags we do not know: the specification says to disconnect
        }
        noZeroes = (clientFlags & NbdWire.CLIENT_FLAG_NO_ZEROES) != 0;
        while (true) {
            ByteBuffer option = readFully(16);
            if (option.getLong() != NbdWire.IHAVEOPT) {
                return null;
            }
            int code = option.getInt();
            long length = Integer.toUnsignedLong(option.getInt());
            if (length > NbdWire.MAX_OPTION_BYTES) {
                return null; // no option of ours is that long: a client that sends it is broken or hostile
            }
            ByteBuffer data = readFully((int) length);
            Session session = answer(code, data);
            if (session != null) {
                return session.export() == null ? null : session;
            }
        }
    }

    /** Answers one option; a non-null result ends the handshake (an export of null: disconnect). */
    private Session answer(int code, ByteBuffer data) throws IOException {
        switch (code) {
            case NbdWire.OPT_EXPORT_NAME -> {
                String name = string(data, data.remaining());
                NbdExport export = name == null ? null : findOrNull(name);
                if (export == null) {
                    return new Session(null, false, false, false); // the old way has no error reply
                }
                ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
                reply.putLong(export.image().size()).putShort((short) transmissionFlags(export));
                reply.position(reply.capacity()).flip();
                write(reply);
                return session(export);
            }
            case NbdWire.OPT_ABORT -> {
                reply(code, NbdWire.REP_ACK, null);
                return new Session(null, false, false, false);
            }
            case NbdWire.OPT_LIST -> {
                if (data.hasRemaining()) {
                    return error(code, NbdWire.REP_ERR_INVALID, "NBD_OPT_LIST carries no data");
                }
                for (ExportCatalog.Listing export : exports.list()) {
                    // The name, then the description: the text the specification lets follow a name.
                    byte[] name = export.name().getBytes(StandardCharsets.UTF_8);
                    byte[] text = export.description().getBytes(StandardCharsets.UTF_8);
                    int n = Math.min(text.length, NbdWire.MAX_STRING);
                    reply(code, NbdWire.REP_SERVER, ByteBuffer.allocate(4 + name.length + n)
                            .putInt(name.length).put(name).put(text, 0, n).flip());
                }
                reply(code, NbdWire.REP_ACK, null);
                return null;
            }
            case NbdWire.OPT_INFO, NbdWire.OPT_GO -> {
                return infoOrGo(code, data);
            }
            case NbdWire.OPT_STRUCTURED_REPLY -> {
                if (data.hasRemaining()) {
                    return error(code, NbdWire.REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY carries no data");
                }
                structured = true;
                reply(code, NbdWire.REP_ACK, null);
                return null;
            }
            case NbdWire.OPT_LIST_META_CONTEXT, NbdWire.OPT_SET_META_CONTEXT -> {
                return metaContext(code, data);
            }
            case NbdWire.OPT_STARTTLS -> {
                return error(code, NbdWire.REP_ERR_UNSUP, "this server does not offer TLS");
            }
            default -> {
                return error(code, NbdWire.REP_ERR_UNSUP, "option " + code + " is not supported");
            }
        }
    }

    private Session infoOrGo(int code, ByteBuffer data) throws IOException {
        if (data.remaining() < 6) {
            return error(code, NbdWire.REP_ERR_INVALID, "option data is " + data.remaining() + " bytes; at least 6 needed");
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > data.remaining() - 2) {
            return error(code, NbdWire.REP_ERR_INVALID, "name length " + nameLength + " runs past the option's data");
        }
        String name = string(data, (int) nameLength);
        if (name == null) {
            return error(code, NbdWire.REP_ERR_INVALID, "the export name is not UTF-8");
        }
        int requests = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != 2L * requests) {
            return error(code, NbdWire.REP_ERR_INVALID, requests + " information requests need " + 2 * requests
                    + " bytes, the option has " + data.remaining());
        }
        NbdExport export;
        try {
            export = exports.find(name);
        } catch (IOException cannotServe) {
            return error(code, NbdWire.REP_ERR_UNKNOWN, "export '" + name + "' cannot be served: " + cannotServe.getMessage());
        }
        if (export == null) {
            return error(code, NbdWire.REP_ERR_UNKNOWN, "no export named '" + name + "'");
        }
        boolean wantName = false;
        boolean wantDescription = false;
        while (data.hasRemaining()) {
            int info = Short.toUnsignedInt(data.getShort());
            wantName |= info == NbdWire.INFO_NAME;
            wantDescription |= info == NbdWire.INFO_DESCRIPTION;
        }
        reply(code, NbdWire.REP_INFO, ByteBuffer.allocate(12).putShort((short) NbdWire.INFO_EXPORT)
                .putLong(export.image().size()).putShort((short) transmissionFlags(export)).flip());
        if (wantName) {
            byte[] bytes = export.name().getBytes(StandardCharsets.UTF_8);
            reply(code, NbdWire.REP_INFO, ByteBuffer.allocate(2 + bytes.length)
                    .putShort((short) NbdWire.INFO_NAME).put(bytes).flip());
        }
        if (wantDescription && !export.description().isEmpty()) {
            byte[] bytes = export.description().getBytes(StandardCharsets.UTF_8);
            int n = Math.min(bytes.length, NbdWire.MAX_STRING);
            reply(code, NbdWire.REP_INFO, ByteBuffer.allocate(2 + n)
                    .putShort((short) NbdWire.INFO_DESCRIPTION).put(bytes, 0, n).flip());
        }
        // Sent whether asked or not, as the specification allows: a client that does not
        // understand it ignores it, and the limits are the defaults anyway.
        reply(code, NbdWire.REP_INFO, ByteBuffer.allocate(14).putShort((short) NbdWire.INFO_BLOCK_SIZE)
                .putInt(1).putInt(NbdWire.PREFERRED_BLOCK).putInt(NbdWire.MAX_PAYLOAD).flip());
        reply(code, NbdWire.REP_ACK, null);
        return code == NbdWire.OPT_GO ? session(export) : null;
    }

    private Session session(NbdExport export) {
        boolean sameExport = export.name().equals(contextExport);
        return new Session(export, structured, sameExport && baseAllocation, sameExport && allocationDepth);
    }

    private Session metaContext(int code, ByteBuffer data) throws IOException {
        boolean set = code == NbdWire.OPT_SET_META_CONTEXT;
        if (!structured) {
            return error(code, NbdWire.REP_ERR_INVALID, "metadata contexts need structured replies first");
        }
        if (data.remaining() < 8) {
            return error(code, NbdWire.REP_ERR_INVALID, "option data is " + data.remaining() + " bytes; at least 8 needed");
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > data.remaining() - 4) {
            return error(code, NbdWire.REP_ERR_INVALID, "name length " + nameLength + " runs past the option's data");
        }
        String name = string(data, (int) nameLength);
        if (name == null) {
            return error(code, NbdWire.REP_ERR_INVALID, "the export name is not UTF-8");
        }
        long queries = Integer.toUnsignedLong(data.getInt());
        boolean base = false;
        boolean depth = false;
        for (long q = 0; q < queries; q++) {
            if (data.remaining() < 4) {
                return error(code, NbdWire.REP_ERR_INVALID, "query " + q + " of " + queries + " is missing");
            }
            long queryLength = Integer.toUnsignedLong(data.getInt());
            if (queryLength > data.remaining() || queryLength > NbdWire.MAX_STRING) {
                return error(code, NbdWire.REP_ERR_INVALID, "query length " + queryLength + " runs past the option's data");
            }
            String query = string(data, (int) queryLength);
            if (query == null) {
                return error(code, NbdWire.REP_ERR_INVALID, "a query is not UTF-8");
            }
            base |= query.equals(NbdWire.BASE_ALLOCATION) || !set && query.equals("base:");
            depth |= query.equals(NbdWire.ALLOCATION_DEPTH) || !set && query.equals("qemu:");
        }
        if (data.hasRemaining()) {
            return error(code, NbdWire.REP_ERR_INVALID, data.remaining() + " bytes follow the last query");
        }
        if (findOrNull(name) == null) {
            return error(code, NbdWire.REP_ERR_UNKNOWN, "no export named '" + name + "'");
        }
        if (queries == 0 && !set) {
            base = true; // no query: list everything there is
            depth = true;
        }
        if (base) {
            context(code, set ? Session.BASE_ALLOCATION_ID : 0, NbdWire.BASE_ALLOCATION);
        }
        if (depth) {
            context(code, set ? Session.ALLOCATION_DEPTH_ID : 0, NbdWire.ALLOCATION_DEPTH);
        }
        if (set) {
            contextExport = name;
            baseAllocation = base;
            allocationDepth = depth;
        }
        reply(code, NbdWire.REP_ACK, null);
        return null;
    }

    /** The export named {@code name}, or null when there is none or it cannot be served. */
    private NbdExport findOrNull(String name) {
        try {
            return exports.find(name);
        } catch (IOException cannotServe) {
            return null;
        }
    }

    private void context(int code, int id, String name) throws IOException {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        reply(code, NbdWire.REP_META_CONTEXT, ByteBuffer.allocate(4 + bytes.length).putInt(id).put(bytes).flip());
    }

    /** The transmission flags of {@code export} on this connection (some depend on what was negotiated). */
    int transmissionFlags(NbdExport export) {
        int flags = NbdWire.TF_HAS_FLAGS | NbdWire.TF_SEND_FLUSH | NbdWire.TF_SEND_CACHE;
        if (structured) {
            flags |= NbdWire.TF_SEND_DF;
        }
        if (export.readOnly()) {
            flags |= NbdWire.TF_READ_ONLY;
        } else {
            flags |= NbdWire.TF_SEND_FUA | NbdWire.TF_SEND_TRIM | NbdWire.TF_SEND_WRITE_ZEROES
                    | NbdWire.TF_SEND_FAST_ZERO;
        }
        if (multiConn) {
            flags |= NbdWire.TF_CAN_MULTI_CONN;
        }
        return flags;
    }

    private Session error(int code, int error, String message) throws IOException {
        reply(code, error, ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8)));
        return null;
    }

    private void reply(int code, int type, ByteBuffer data) throws IOException {
        int length = data == null ? 0 : data.remaining();
        ByteBuffer header = ByteBuffer.allocate(20 + length);
        header.putLong(NbdWire.OPTION_REPLY_MAGIC).putInt(code).putInt(type).putInt(length);
        if (data != null) {
            header.put(data);
        }
        write(header.flip());
    }

    /** Reads {@code n} UTF-8 bytes from {@code data}; null when they are not valid UTF-8 or too long. */
    private static String string(ByteBuffer data, int n) {
        if (n > NbdWire.MAX_STRING) {
            data.position(data.position() + n);
            return null;
        }
        ByteBuffer slice = data.slice(data.position(), n);
        data.position(data.position() + n);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private ByteBuffer readFully(int n) throws IOException {
        ByteBuffer buffer = n <= head.capacity() ? head.clear().limit(n) : ByteBuffer.allocate(n);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                throw new EOFException("the client closed the connection during the handshake");
            }
        }
        return buffer.flip();
    }

    private void write(ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
