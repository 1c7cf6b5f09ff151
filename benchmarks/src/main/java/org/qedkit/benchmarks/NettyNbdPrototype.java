package org.qedkit.benchmarks;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerDomainSocketChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A measurement, not a product: the NBD transmission path of {@code qed serve} rebuilt on
 * Netty 4.2 (epoll or io_uring, Unix socket), so that {@code benchmarks/nbd-transports}
 * can put the two side by side under the same fio load before the server's threading is
 * settled (issue 15: "measure before choosing").
 *
 * <p>It speaks what fio's nbd engine (libnbd) needs and no more: the fixed newstyle
 * handshake without zeroes, {@code NBD_OPT_STRUCTURED_REPLY}, {@code NBD_OPT_GO} and
 * {@code NBD_OPT_EXPORT_NAME} for its one export, then READ, WRITE, FLUSH and DISC. Reads
 * and writes run on the event loop, as {@code qed serve}'s reading thread answers reads
 * of up to 256 KiB and stores writes itself; a read is copied from the image into a pooled
 * direct buffer (one copy, as {@code qed serve} makes) and goes out as one structured
 * OFFSET_DATA chunk, or a simple reply when structured replies were not asked for; a
 * flush runs on a thread of its own. Everything else is refused with EINVAL. It is not
 * fuzzed, bounded or hardened: it never serves anything but a benchmark.
 *
 * <p>Usage: {@code NettyNbdPrototype epoll|io_uring SOCKET IMAGE}; stops on SIGTERM.
 */
public final class NettyNbdPrototype {
    private static final long NBDMAGIC = 0x4e42444d41474943L;
    private static final long IHAVEOPT = 0x49484156454F5054L;
    private static final long REPLY_MAGIC = 0x3e889045565a9L;
    private static final int REQUEST_MAGIC = 0x25609513;
    private static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    private static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    private static final short FLAG_FIXED_NEWSTYLE = 1;
    private static final short FLAG_NO_ZEROES = 2;
    private static final int OPT_EXPORT_NAME = 1;
    private static final int OPT_ABORT = 2;
    private static final int OPT_GO = 7;
    private static final int OPT_STRUCTURED_REPLY = 8;
    private static final int REP_ACK = 1;
    private static final int REP_INFO = 3;
    private static final int REP_ERR_UNSUP = 0x80000001;
    private static final short INFO_EXPORT = 0;
    private static final short TRANSMISSION_FLAGS = 1 | 4; // HAS_FLAGS, SEND_FLUSH
    private static final int CMD_READ = 0;
    private static final int CMD_WRITE = 1;
    private static final int CMD_DISC = 2;
    private static final int CMD_FLUSH = 3;
    private static final short CHUNK_OFFSET_DATA = 1;
    private static final short CHUNK_FLAG_DONE = 1;
    private static final int EIO = 5;
    private static final int EINVAL = 22;
    private static final int MAX_REQUEST = 32 << 20;

    private NettyNbdPrototype() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            throw new IllegalArgumentException("usage: NettyNbdPrototype epoll|io_uring SOCKET IMAGE");
        }
        IoHandlerFactory io;
        Class<? extends ServerChannel> channel;
        switch (args[0]) {
            case "epoll" -> {
                Epoll.ensureAvailability();
                io = EpollIoHandler.newFactory();
                channel = EpollServerDomainSocketChannel.class;
            }
            case "io_uring" -> {
                IoUring.ensureAvailability();
                io = IoUringIoHandler.newFactory();
                channel = IoUringServerDomainSocketChannel.class;
            }
            default -> throw new IllegalArgumentException("transport: epoll or io_uring, not " + args[0]);
        }
        Path socket = Path.of(args[1]);
        Files.deleteIfExists(socket);
        QedImage image = QedImage.open(Path.of(args[2]), OpenOptions.READ_WRITE);
        ExecutorService flushes = Executors.newVirtualThreadPerTaskExecutor();
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, io);
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(1, io);
        Channel server = new ServerBootstrap().group(boss, workers).channel(channel)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new Connection(image, flushes));
                    }
                })
                .bind(new DomainSocketAddress(socket.toString())).sync().channel();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close().syncUninterruptibly();
            workers.shutdownGracefully().syncUninterruptibly();
            boss.shutdownGracefully().syncUninterruptibly();
            try {
                image.close();
            } catch (IOException e) {
                e.printStackTrace();
            }
        }));
        server.closeFuture().sync();
    }

    /** One client: the handshake, then requests, decoded as their bytes arrive. */
    private static final class Connection extends ByteToMessageDecoder {
        private final QedImage image;
        private final ExecutorService flushes;
        private boolean greeted;
        private boolean clientFlagsRead;
        private boolean transmitting;
        private boolean structured;

        Connection(QedImage image, ExecutorService flushes) {
            this.image = image;
            this.flushes = flushes;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            ByteBuf hello = ctx.alloc().buffer(18);
            hello.writeLong(NBDMAGIC).writeLong(IHAVEOPT).writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
            ctx.writeAndFlush(hello);
            greeted = true;
            super.channelActive(ctx);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws IOException {
            if (!greeted) {
                return;
            }
            if (!clientFlagsRead) {
                if (in.readableBytes() < 4) {
                    return;
                }
                in.skipBytes(4);
                clientFlagsRead = true;
            }
            while (ctx.channel().isOpen()) {
                if (!transmitting ? !option(ctx, in) : !request(ctx, in)) {
                    return;
                }
            }
        }

        /** One option if all of it is here; false when more bytes are needed. */
        private boolean option(ChannelHandlerContext ctx, ByteBuf in) {
            if (in.readableBytes() < 16) {
                return false;
            }
            int length = in.getInt(in.readerIndex() + 12);
            if (in.readableBytes() < 16 + length) {
                return false;
            }
            in.skipBytes(8); // IHAVEOPT
            int option = in.readInt();
            in.skipBytes(4);
            ByteBuf data = in.readSlice(length);
            switch (option) {
                case OPT_STRUCTURED_REPLY -> {
                    structured = true;
                    reply(ctx, option, REP_ACK, 0);
                }
                case OPT_GO -> {
                    ByteBuf info = replyHeader(ctx, option, REP_INFO, 12);
                    info.writeShort(INFO_EXPORT).writeLong(image.size()).writeShort(TRANSMISSION_FLAGS);
                    ctx.write(info);
                    reply(ctx, option, REP_ACK, 0);
                    transmitting = true;
                }
                case OPT_EXPORT_NAME -> {
                    ByteBuf b = ctx.alloc().buffer(10);
                    b.writeLong(image.size()).writeShort(TRANSMISSION_FLAGS);
                    ctx.writeAndFlush(b);
                    transmitting = true;
                }
                case OPT_ABORT -> {
                    reply(ctx, option, REP_ACK, 0);
                    ctx.close();
                }
                default -> reply(ctx, option, REP_ERR_UNSUP, 0);
            }
            data.skipBytes(data.readableBytes()); // no option's data matters for one unnamed export
            return true;
        }

        private void reply(ChannelHandlerContext ctx, int option, int type, int length) {
            ctx.writeAndFlush(replyHeader(ctx, option, type, length));
        }

        private ByteBuf replyHeader(ChannelHandlerContext ctx, int option, int type, int length) {
            ByteBuf b = ctx.alloc().buffer(20 + length);
            b.writeLong(REPLY_MAGIC).writeInt(option).writeInt(type).writeInt(length);
            return b;
        }

        /** One request if all of it (a write's payload included) is here; false when more bytes are needed. */
        private boolean request(ChannelHandlerContext ctx, ByteBuf in) {
            if (in.readableBytes() < 28) {
                return false;
            }
            int at = in.readerIndex();
            if (in.getInt(at) != REQUEST_MAGIC) {
                ctx.close(); // the protocol says: a bad magic ends the connection
                return false;
            }
            int type = in.getUnsignedShort(at + 6);
            long length = in.getUnsignedInt(at + 24);
            if (type == CMD_WRITE && in.readableBytes() < 28 + length) {
                return false;
            }
            in.skipBytes(8);
            long handle = in.readLong();
            long offset = in.readLong();
            in.skipBytes(4);
            boolean inRange = length <= MAX_REQUEST && offset >= 0 && offset + length <= image.size();
            switch (type) {
                case CMD_READ -> {
                    if (!inRange) {
                        error(ctx, handle, EINVAL);
                    } else {
                        read(ctx, handle, offset, (int) length);
                    }
                }
                case CMD_WRITE -> {
                    ByteBuf payload = in.readSlice((int) length);
                    if (!inRange) {
                        error(ctx, handle, EINVAL);
                    } else {
                        try {
                            image.write(offset, payload.nioBuffer());
                            done(ctx, handle);
                        } catch (IOException e) {
                            error(ctx, handle, EIO);
                        }
                    }
                }
                case CMD_FLUSH -> flushes.execute(() -> {
                    try {
                        image.flush();
                        ctx.executor().execute(() -> {
                            done(ctx, handle);
                            ctx.flush();
                        });
                    } catch (IOException e) {
                        ctx.executor().execute(() -> {
                            error(ctx, handle, EIO);
                            ctx.flush();
                        });
                    }
                });
                case CMD_DISC -> ctx.close();
                default -> error(ctx, handle, EINVAL);
            }
            return true;
        }

        private void read(ChannelHandlerContext ctx, long handle, long offset, int length) {
            int header = structured ? 28 : 16;
            ByteBuf b = ctx.alloc().directBuffer(header + length);
            if (structured) {
                b.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(CHUNK_FLAG_DONE).writeShort(CHUNK_OFFSET_DATA)
                        .writeLong(handle).writeInt(8 + length).writeLong(offset);
            } else {
                b.writeInt(SIMPLE_REPLY_MAGIC).writeInt(0).writeLong(handle);
            }
            try {
                image.read(offset, b.nioBuffer(header, length));
            } catch (IOException e) {
                b.release();
                error(ctx, handle, EIO);
                return;
            }
            b.writerIndex(header + length);
            ctx.write(b);
        }

        private void done(ChannelHandlerContext ctx, long handle) {
            error(ctx, handle, 0);
        }

        private void error(ChannelHandlerContext ctx, long handle, int errno) {
            ByteBuf b = ctx.alloc().buffer(16);
            b.writeInt(SIMPLE_REPLY_MAGIC).writeInt(errno).writeLong(handle);
            ctx.write(b);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
            ctx.flush(); // one flush per batch of requests read: the replies go out together
            super.channelReadComplete(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close().addListener(ChannelFutureListener.CLOSE);
        }
    }
}
