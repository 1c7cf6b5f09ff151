package org.qedkit.stress;

import org.qedkit.OpenOptions;
import org.qedkit.QedImage;

import java.io.IOException;
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
 * Usage: {@code CrashChild IMAGE JOURNAL SEED WORKERS}. Prints {@code READY} once running.
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
        CrashChild child = new CrashChild(path, journalPath);
        long size = child.image.size();
        int clusterSize = child.image.header().clusterSize();
        long region = size / workers;
        Thread[] threads = new Thread[workers];
        for (int t = 0; t < workers; t++) {
            int worker = t;
            Workload w = new Workload(seed, worker, worker * region, region, clusterSize);
            threads[t] = Thread.ofPlatform().name("worker-" + t).start(() -> child.run(worker, w));
        }
        System.out.println("READY");
        System.out.flush();
        for (Thread t : threads) {
            t.join();
        }
    }

    private void run(int worker, Workload workload) {
        try {
            for (int k = 0; k < CrashCampaign.OPS_PER_WORKER; k++) {
                Workload.Op op = workload.next();
                switch (op.kind()) {
                    case FLUSH -> {
                        log("F " + worker + " " + k);
                        withImage(QedImage::flush);
                        log("E " + worker + " " + k);
                    }
                    case REOPEN -> reopen();
                    case WRITE, ZERO, DISCARD -> {
                        log("S " + worker + " " + k);
                        if (op.kind() == Workload.Kind.WRITE) {
                            byte[] data = op.data();
                            withImage(i -> i.write(op.offset(), data));
                        } else if (op.kind() == Workload.Kind.ZERO) {
                            withImage(i -> i.writeZeroes(op.offset(), op.length()));
                        } else {
                            withImage(i -> i.discard(op.requestOffset(), op.requestLength()));
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
