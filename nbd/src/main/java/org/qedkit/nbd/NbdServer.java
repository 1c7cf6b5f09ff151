package org.qedkit.nbd;

import org.qedkit.OpenOptions;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An NBD server for QED images: serves {@link NbdExport}s to any NBD client over Unix
 * sockets and TCP, speaking the fixed newstyle handshake with structured replies, the
 * {@code base:allocation} and {@code qemu:allocation-depth} metadata contexts, and every
 * command a QED image can answer (read, write with FUA, flush, trim, write zeroes, block
 * status, cache, disconnect).
 *
 * <pre>{@code
 * try (QedImage image = QedImage.open(path);
 *      NbdServer server = NbdServer.builder()
 *              .export(NbdExport.of("", image).withUnmap(true))
 *              .listen(UnixDomainSocketAddress.of("/run/disk.sock"))
 *              .build().start()) {
 *     server.awaitTermination();
 * }
 * }</pre>
 *
 * <h2>Many clients, one image</h2>
 * Every connection to an export shares the one open image, and the engine makes a write
 * visible to every reader of the process when it returns; a flush makes every write that
 * returned before it durable, whichever connection made it. So a flush on any connection
 * covers the writes every connection saw replied, and the server advertises
 * {@code NBD_FLAG_CAN_MULTI_CONN} (unless told not to).
 *
 * <h2>Limits</h2>
 * Requests carry at most 32 MiB; a connection runs at most
 * {@link Builder#maxRequestsInFlight(int)} requests at a time and holds at most that many
 * 256 KiB buffers; a client must finish its handshake within
 * {@link Builder#handshakeTimeout(Duration)}; at most {@link Builder#maxConnections(int)}
 * clients are served at a time (later ones wait in the listen queue, as with
 * {@code qemu-nbd -e}).
 *
 * <h2>Lifetime</h2>
 * {@link #close()} stops accepting, lets every connection finish the requests it has read
 * (their replies are sent), closes the connections, and returns. The server never closes
 * an export's image: its owner does, after the server is closed.
 */
public final class NbdServer implements AutoCloseable {
    private final Map<String, NbdExport> exports;
    private final ExportCatalog catalog;
    private final List<SocketAddress> addresses;
    private final int maxConnections;
    private final int maxRequestsInFlight;
    private final Duration handshakeTimeout;
    private final boolean multiConn;
    private final boolean exitWhenIdle;

    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<SocketAddress> bound = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();
    private final List<Thread> acceptors = new ArrayList<>();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final Set<Thread> connectionThreads = ConcurrentHashMap.newKeySet();
    private final Semaphore slots;
    private final ScheduledThreadPoolExecutor timer;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CountDownLatch terminated = new CountDownLatch(1);

    private NbdServer(Builder b, ExportDirectory directory) {
        this.exports = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.exports));
        this.catalog = new ExportCatalog(exports, directory);
        this.addresses = List.copyOf(b.addresses);
        this.maxConnections = b.maxConnections;
        this.maxRequestsInFlight = b.maxRequestsInFlight;
        this.handshakeTimeout = b.handshakeTimeout;
        this.multiConn = b.multiConn;
        this.exitWhenIdle = b.exitWhenIdle;
        this.slots = maxConnections > 0 ? new Semaphore(maxConnections) : null;
        this.timer = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().daemon().name("nbd-handshake-timer").unstarted(r));
        this.timer.setRemoveOnCancelPolicy(true);
    }

    /** {@return a builder with the defaults: no exports, no listen address yet} */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Binds every listen address and starts accepting clients.
     *
     * @return this server
     * @throws IOException when an address cannot be bound (nothing stays bound then)
     */
    public NbdServer start() throws IOException {
        try {
            for (SocketAddress address : addresses) {
                listeners.add(bind(address));
            }
        } catch (IOException | RuntimeException e) {
            closeListeners();
            throw e;
        }
        for (ServerSocketChannel listener : listeners) {
            Thread acceptor = Thread.ofPlatform().daemon().name("nbd-accept " + listener.getLocalAddress())
                    .unstarted(() -> acceptLoop(listener));
            acceptors.add(acceptor);
            acceptor.start();
        }
        return this;
    }

    private ServerSocketChannel bind(SocketAddress address) throws IOException {
        if (address instanceof UnixDomainSocketAddress unix) {
            Path path = unix.getPath();
            if (isSocket(path)) {
                Files.delete(path); // a socket left by an earlier server: QEMU's tools take its place too
            }
            // The socket file appears only once it listens: bound (and listening) under a
            // private name, then renamed into place. bind(2) makes the file and listen(2)
            // follows, and a client that saw the file in between was refused (a script, or
            // a test, that waits for the file to appear and then connects).
            Path fresh = path.resolveSibling(".nbd-" + ProcessHandle.current().pid() + "-" + listeners.size());
            ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                Files.deleteIfExists(fresh);
                channel.bind(UnixDomainSocketAddress.of(fresh));
                Files.move(fresh, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                channel.close();
                Files.deleteIfExists(fresh);
                throw new IOException("cannot listen on " + path + ": " + e.getMessage(), e);
            }
            socketFiles.add(path);
            bound.add(unix);
            return channel;
        }
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(address, 128);
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot listen on " + address + ": " + e.getMessage(), e);
        }
        bound.add(channel.getLocalAddress());
        return channel;
    }

    private static boolean isSocket(Path path) {
        try {
            Object mode = Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            return mode instanceof Integer m && (m & 0170000) == 0140000;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private void acceptLoop(ServerSocketChannel listener) {
        while (!closed.get()) {
            if (slots != null) {
                try {
                    slots.acquire(); // all taken: wait for a client to leave, or for close()
                } catch (InterruptedException e) {
                    return;
                }
            }
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (ClosedChannelException e) {
                releaseSlot();
                return;
            } catch (IOException e) {
                releaseSlot();
                if (closed.get()) {
                    return;
                }
                pause(); // out of descriptors, say: try again shortly rather than spin
                continue;
            }
            if (closed.get()) {
                closeQuietly(channel);
                releaseSlot();
                return;
            }
            serve(channel);
        }
    }

    private void serve(SocketChannel channel) {
        try {
            Connection.tune(channel);
        } catch (IOException e) {
            // an option that cannot be set costs latency, not correctness
        }
        AtomicBoolean handshakeDone = new AtomicBoolean();
        ScheduledFuture<?>[] deadline = new ScheduledFuture<?>[1];
        Connection connection = new Connection(channel, catalog, multiConn, maxRequestsInFlight,
                Thread.ofVirtual().name("nbd-request").factory(), () -> {
                    handshakeDone.set(true);
                    ScheduledFuture<?> d = deadline[0];
                    if (d != null) {
                        d.cancel(false);
                    }
                });
        connections.add(connection);
        Thread thread = Thread.ofPlatform().daemon().name("nbd-connection").unstarted(() -> {
            try {
                connection.run();
            } finally {
                connections.remove(connection);
                connectionThreads.remove(Thread.currentThread());
                releaseSlot();
                if (exitWhenIdle && connections.isEmpty() && !closed.get()) {
                    Thread.ofPlatform().name("nbd-close").start(this::close);
                }
            }
        });
        connectionThreads.add(thread);
        deadline[0] = timer.schedule(() -> {
            if (!handshakeDone.get()) {
                connection.abort();
            }
        }, handshakeTimeout.toNanos(), TimeUnit.NANOSECONDS);
        if (handshakeDone.get()) {
            deadline[0].cancel(false);
        }
        if (closed.get()) {
            connection.shutDown();
        }
        thread.start();
    }

    private void releaseSlot() {
        if (slots != null) {
            slots.release();
        }
    }

    private static void pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@return the addresses the server listens on, as bound (a TCP port of 0 is the port chosen)} */
    public List<SocketAddress> localAddresses() {
        return List.copyOf(bound);
    }

    /** {@return the exports given to the builder by name, in the order they were added (an export directory's are not listed)} */
    public Map<String, NbdExport> exports() {
        return exports;
    }

    /** {@return the number of connections being served now} */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Waits until the server is closed: by {@link #close()}, or, for a server built with
     * {@link Builder#exitWhenIdle(boolean)}, after its last client left.
     *
     * @throws InterruptedException when the waiting thread is interrupted
     */
    public void awaitTermination() throws InterruptedException {
        terminated.await();
    }

    /**
     * Stops accepting, lets every connection finish the requests it has read, closes them,
     * and removes the Unix socket files it made. Waits for all of it; safe to call twice.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            try {
                terminated.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        closeListeners();
        for (Thread acceptor : acceptors) {
            acceptor.interrupt(); // one waiting for a free connection slot is not in accept()
            joinQuietly(acceptor);
        }
        for (Connection connection : connections) {
            connection.shutDown();
        }
        for (Thread thread : List.copyOf(connectionThreads)) {
            joinQuietly(thread);
        }
        timer.shutdownNow();
        catalog.close();
        for (Path path : socketFiles) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a socket file that cannot be removed is only untidy
            }
        }
        terminated.countDown();
    }

    private void closeListeners() {
        for (ServerSocketChannel listener : listeners) {
            closeQuietly(listener);
        }
    }

    private static void closeQuietly(java.nio.channels.Channel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing: nothing to do about it
        }
    }

    private static void joinQuietly(Thread thread) {
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** How a server is set up; {@link #build()} makes a server that is not started yet. */
    public static final class Builder {
        private final Map<String, NbdExport> exports = new LinkedHashMap<>();
        private final List<SocketAddress> addresses = new ArrayList<>();
        private Path exportDirectory;
        private OpenOptions directoryOptions;
        private boolean directoryUnmap;
        private int maxConnections;
        private int maxRequestsInFlight = 64;
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private boolean multiConn = true;
        private boolean exitWhenIdle;

        private Builder() {
        }

        /**
         * Adds an export.
         *
         * @param export the export; its name must be new
         * @return this builder
         */
        public Builder export(NbdExport export) {
            Objects.requireNonNull(export, "export");
            if (exports.putIfAbsent(export.name(), export) != null) {
                throw new IllegalArgumentException("two exports named '" + export.name() + "'");
            }
            return this;
        }

        /**
         * Serves every QED image under {@code directory} (and its subfolders), named by its
         * path relative to it ({@code vm/disk.qed}), listed by {@code NBD_OPT_LIST}, opened on
         * first use with {@code options} and {@link org.qedkit.BackingPolicy#untrusted(Path)}
         * (backing files must resolve inside the folder too), and closed when the server
         * closes. Names that leave the folder ({@code ..}, absolute names, symbolic links
         * pointing out) are unknown exports.
         *
         * @param directory the folder
         * @param options   how each image is opened (read-only, durability, limits)
         * @param unmap     whether trims give clusters back (see {@link NbdExport#unmap()})
         * @return this builder
         */
        public Builder exportDirectory(Path directory, OpenOptions options, boolean unmap) {
            this.exportDirectory = Objects.requireNonNull(directory, "directory");
            this.directoryOptions = Objects.requireNonNull(options, "options");
            this.directoryUnmap = unmap;
            return this;
        }

        /**
         * Adds an address to listen on: a {@link UnixDomainSocketAddress} or an
         * {@link InetSocketAddress} (port 0: any free port, see {@link NbdServer#localAddresses()}).
         *
         * @param address where clients connect
         * @return this builder
         */
        public Builder listen(SocketAddress address) {
            Objects.requireNonNull(address, "address");
            if (!(address instanceof UnixDomainSocketAddress) && !(address instanceof InetSocketAddress)) {
                throw new IllegalArgumentException("listen address " + address + ": a Unix socket or an IP address and port");
            }
            addresses.add(address);
            return this;
        }

        /**
         * Sets how many clients are served at a time; later ones wait until one leaves.
         *
         * @param max the most connections at a time, or 0 for no limit (the default)
         * @return this builder
         */
        public Builder maxConnections(int max) {
            if (max < 0) {
                throw new IllegalArgumentException("maxConnections: " + max + "; 0 (no limit) or more");
            }
            this.maxConnections = max;
            return this;
        }

        /**
         * Sets how many requests of one connection run at a time (64 by default); the server
         * reads no further request of that connection until one replies.
         *
         * @param max requests at a time, 1 to 4096
         * @return this builder
         */
        public Builder maxRequestsInFlight(int max) {
            if (max < 1 || max > 4096) {
                throw new IllegalArgumentException("maxRequestsInFlight: " + max + "; 1 to 4096");
            }
            this.maxRequestsInFlight = max;
            return this;
        }

        /**
         * Sets how long a client may take to finish its handshake (10 s by default) before
         * the connection is closed.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder handshakeTimeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("handshakeTimeout: " + timeout + "; must be positive");
            }
            this.handshakeTimeout = timeout;
            return this;
        }

        /**
         * Sets whether {@code NBD_FLAG_CAN_MULTI_CONN} is advertised (true by default; see the
         * class comment for why it holds).
         *
         * @param advertise whether clients may spread requests over several connections
         * @return this builder
         */
        public Builder multiConn(boolean advertise) {
            this.multiConn = advertise;
            return this;
        }

        /**
         * Sets whether the server closes itself when its last client leaves (as
         * {@code qemu-nbd} does without {@code --persistent}); false by default.
         *
         * @param exit whether the server ends with its last connection
         * @return this builder
         */
        public Builder exitWhenIdle(boolean exit) {
            this.exitWhenIdle = exit;
            return this;
        }

        /**
         * {@return a server with these settings, not started}
         *
         * @throws IllegalStateException when there is no export (nor export directory), no listen
         *                               address, or the export directory cannot be read
         */
        public NbdServer build() {
            if (exports.isEmpty() && exportDirectory == null) {
                throw new IllegalStateException("an NBD server needs at least one export or an export directory");
            }
            if (addresses.isEmpty()) {
                throw new IllegalStateException("an NBD server needs at least one listen address");
            }
            ExportDirectory directory = null;
            if (exportDirectory != null) {
                try {
                    directory = new ExportDirectory(exportDirectory, directoryOptions, directoryUnmap);
                } catch (IOException e) {
                    throw new IllegalStateException("export directory " + exportDirectory + ": " + e.getMessage(), e);
                }
            }
            return new NbdServer(this, directory);
        }
    }
}
