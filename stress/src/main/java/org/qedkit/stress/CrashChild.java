package org.qedkit.stress;

import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import org.qedkit.nbd.NbdExport;
import org.qedkit.nbd.NbdServer;
import org.qedkit.nbd.NbdTestClient;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The child of a process-crash run: opens the image and runs worker threads until it is
 * killed, journaling what it does so the parent can tell afterwards what must be on disk.
 *
 * <h2>Journal</h2>
 * One line per event, appended with {@code write(2)} (which survives the process being
 * killed: the page cache keeps it):
 * <pre>
 * S t k    worker t starts its operation k
 * D t k    worker t finished operation k (returned to the caller)
 * F t k    worker t starts flush number k
 * E t k    flush k of worker t returned: every D line before its F line is durable
 * </pre>
 * Usage: {@code CrashChild IMAGE JOURNAL SEED WORKERS [nbd]}; with {@code nbd} the image is
 * served over NBD in this process and every worker writes through a connection of its own.
 * Prints {@code READY} once running.
 */
public final class CrashChild {
    private final FileChannel journal;
    private final ReadWriteLock imageSwap = new ReentrantReadWriteLock();
    private volatile QedImage image;
    private final Path path;

    private CrashChild(Path path, Path journalPath) throws IOException {
        this.path = path;
        this.journal = FileChannel.open(journalPath, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        this.image = QedImage.open(path, OpenOptions.READ_WRITE);
    }

    public static void main(String[] args) throws Exception {
        Path path = Path.of(args[0]);
        Path journalPath = Path.of(args[1]);
        long seed = Long.parseLong(args[2]);
        int workers = Integer.parseInt(args[3]);
        boolean overNbd = args.length > 4 && args[4].equals("nbd");
        CrashChild child = new CrashChild(path, journalPath);
        long size = child.image.size();
        int clusterSize = child.image.header().clusterSize();
        long region = size / workers;
        UnixDomainSocketAddress socket = null;
        if (overNbd) {
            // The image served by this process, each worker a client of its own connection:
            // what was answered must be on disk after the kill just as if it were called directly.
            socket = UnixDomainSocketAddress.of(journalPath.resolveSibling(journalPath.getFileName() + ".sock"));
            NbdServer.builder().export(NbdExport.of("", child.image).withUnmap(true)).listen(socket).build().start();
        }
        Thread[] threads = new Thread[workers];
        for (int t = 0; t < workers; t++) {
            int worker = t;
            Workload w = new Workload(seed, worker, worker * region, region, clusterSize);
            Target target = overNbd ? new OverNbd(socket) : child.new Direct();
            threads[t] = Thread.ofPlatform().name("worker-" + t).start(() -> child.run(worker, w, target));
        }
        System.out.println("READY");
        System.out.flush();
        for (Thread t : threads) {
            t.join();
        }
    }

    /** What a worker does its operations through: the engine itself, or an NBD connection to it. */
    private interface Target {
        void write(long offset, byte[] data) throws IOException;

        void writeZeroes(long offset, long length) throws IOException;

        void discard(long offset, long length) throws IOException;

        void flush() throws IOException;

        /** Direct: close and open the image again. Over NBD: a new connection. */
        void reopen() throws IOException;
    }

    private final class Direct implements Target {
        @Override
        public void write(long offset, byte[] data) throws IOException {
            withImage(i -> Workload.write(i, offset, data));
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            withImage(i -> i.writeZeroes(offset, length));
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            withImage(i -> i.discard(offset, length));
        }

        @Override
        public void flush() throws IOException {
            withImage(QedImage::flush);
        }

        @Override
        public void reopen() throws IOException {
            CrashChild.this.reopen();
        }
    }

    private static final class OverNbd implements Target {
        private final UnixDomainSocketAddress socket;
        private NbdTestClient client;

        OverNbd(UnixDomainSocketAddress socket) {
            this.socket = socket;
        }

        private NbdTestClient client() throws IOException {
            if (client == null) {
                client = NbdTestClient.open(socket, "");
            }
            return client;
        }

        @Override
        public void write(long offset, byte[] data) throws IOException {
            client().write(offset, data);
        }

        @Override
        public void writeZeroes(long offset, long length) throws IOException {
            client().writeZeroes(offset, length);
        }

        @Override
        public void discard(long offset, long length) throws IOException {
            client().trim(offset, length);
        }

        @Override
        public void flush() throws IOException {
            client().flush();
        }

        @Override
        public void reopen() throws IOException {
            if (client != null) {
                client.close();
                client = null;
            }
        }
    }

    private void run(int worker, Workload workload, Target target) {
        try {
            for (int k = 0; k < CrashCampaign.OPS_PER_WORKER; k++) {
                Workload.Op op = workload.next();
                switch (op.kind()) {
                    case FLUSH -> {
                        log("F " + worker + " " + k);
                        target.flush();
                        log("E " + worker + " " + k);
                    }
                    case REOPEN -> target.reopen();
                    case WRITE, ZERO, DISCARD -> {
                        log("S " + worker + " " + k);
                        if (op.kind() == Workload.Kind.WRITE) {
                            target.write(op.offset(), op.data());
                        } else if (op.kind() == Workload.Kind.ZERO) {
                            target.writeZeroes(op.offset(), op.length());
                        } else {
                            target.discard(op.requestOffset(), op.requestLength());
                        }
                        log("D " + worker + " " + k);
                    }
                }
            }
        } catch (IOException e) {
            e.printStackTrace();
            System.exit(3);
        }
    }

    private interface ImageAction {
        void apply(QedImage image) throws IOException;
    }

    private void withImage(ImageAction action) throws IOException {
        imageSwap.readLock().lock();
        try {
            action.apply(image);
        } finally {
            imageSwap.readLock().unlock();
        }
    }

    /** Close and open again: a clean close in the middle of the run, as a daemon restarts. */
    private void reopen() throws IOException {
        imageSwap.writeLock().lock();
        try {
            image.close();
            image = QedImage.open(path, OpenOptions.READ_WRITE);
        } finally {
            imageSwap.writeLock().unlock();
        }
    }

    private synchronized void log(String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII));
        while (b.hasRemaining()) {
            journal.write(b);
        }
    }
}
