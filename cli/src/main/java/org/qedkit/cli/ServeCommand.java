package org.qedkit.cli;

import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import org.qedkit.nbd.NbdExport;
import org.qedkit.nbd.NbdServer;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed serve}: serves one QED image over NBD, with {@code qemu-nbd}'s option names so
 * that its users switch by changing the program name. Differences, on purpose: it listens
 * on 127.0.0.1 unless {@code -b} says otherwise (qemu-nbd: every interface), and with more
 * than one connection allowed ({@code -e}) it advertises multi-connection (see
 * {@link NbdServer}). SIGTERM and SIGINT stop it cleanly: no new client, every request read
 * is answered, the image is flushed and closed clean. {@code -s} serves a temporary overlay
 * ({@link SnapshotOverlay}); {@code --fork} goes on in the background ({@link ServeInBackground});
 * qemu-nbd options with no meaning here ({@code -c}, {@code -l}, {@code -B}, TLS) are refused
 * with what to do instead.
 */
final class ServeCommand implements Callable<Integer>, DeclaredCommand {

    String format;
    String name;
    Path exportDir;
    boolean readOnly;
    String exportName;
    String description;
    Path socket;
    String bind;
    int port;
    boolean persistent;
    int shared;
    String cache;
    String discard;
    String firstBlocksAhead;
    Path pidFile;
    int handshakeSeconds;
    boolean imageOpts;
    boolean snapshot;
    boolean allocationDepth;
    boolean fork;

    /** The hidden option of the server {@link ServeInBackground} starts: say on standard error when listening. */
    static final String NOTIFY_READY = "--notify-ready";
    /** What that server prints, alone on a line, once it listens. */
    static final String READY_LINE = "qed serve: listening";
    boolean notifyReady;
    private CommandSpec spec;

    /*
     * qemu-nbd options that qed serve does not have, each refused with the reason instead of
     * "Unknown option", so a qemu-nbd user learns what to do instead.
     */
    String connectDevice;
    String loadSnapshot;
    String bitmap;
    List<String> tls;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("serve", this, "Serve a QED image over NBD, as qemu-nbd does.");
        b.option("-f --format").label("FMT")
                .describe("Image format: qed.")
                .text(() -> format, v -> format = v);
        b.positional("0").label("FILE").arity("0..1")
                .describe("The image: a file name, file:NAME, or json:{…} as QEMU takes them (not with "
                        + "--export-dir).")
                .text(() -> name, v -> name = v);
        b.option("--export-dir").label("DIR")
                .describe("Serve every QED image under DIR, named by its path relative to DIR, opened on "
                        + "first use; names and backing files must stay inside DIR.")
                .typed(Path.class, () -> exportDir, v -> exportDir = v);
        b.option("-r --read-only")
                .describe("Export read-only: clients may not write.")
                .flag(() -> readOnly, v -> readOnly = v);
        b.option("-x --export-name").label("NAME").defaultValue("")
                .describe("The export's name (default: the empty name, the default export).")
                .text(() -> exportName, v -> exportName = v);
        b.option("-D --description").label("TEXT").defaultValue("")
                .describe("A description clients may show.")
                .text(() -> description, v -> description = v);
        b.option("-k --socket").label("PATH")
                .describe("Listen on this Unix socket instead of TCP.")
                .typed(Path.class, () -> socket, v -> socket = v);
        b.option("-b --bind").label("ADDR").defaultValue("127.0.0.1")
                .describe("TCP address to listen on (default: 127.0.0.1, this machine only).")
                .text(() -> bind, v -> bind = v);
        b.option("-p --port").label("PORT").defaultValue("10809")
                .describe("TCP port to listen on (default: 10809).")
                .typed(int.class, () -> port, v -> port = v);
        b.option("-t --persistent")
                .describe("Keep serving after the last client leaves.")
                .flag(() -> persistent, v -> persistent = v);
        b.option("-e --shared").label("NUM").defaultValue("1")
                .describe("Clients served at a time (default 1; 0: no limit).")
                .typed(int.class, () -> shared, v -> shared = v);
        b.option("--cache").label("MODE").defaultValue("writeback")
                .describe("writeback (flush makes writes durable) or writethrough (every write is durable "
                        + "when it is answered); none, directsync and unsafe as qemu-nbd maps them.")
                .text(() -> cache, v -> cache = v);
        b.option("--discard").label("MODE").defaultValue("ignore")
                .describe("ignore (trims do nothing) or unmap (trims give clusters back to the file system).")
                .text(() -> discard, v -> discard = v);
        b.option("--first-blocks-ahead").label("MODE").defaultValue("on")
                .describe("on (default): zeros are written ahead into the block of each new cluster where "
                        + "writes have been landing, so that a small write-through write into it skips the file "
                        + "system's extent conversion; off: for a lone client that values its slowest writes "
                        + "over its throughput.")
                .text(() -> firstBlocksAhead, v -> firstBlocksAhead = v);
        b.option("--pid-file").label("FILE")
                .describe("Write the server's process id here.")
                .typed(Path.class, () -> pidFile, v -> pidFile = v);
        b.option("--handshake-limit").label("SECONDS").defaultValue("10")
                .describe("Drop a client that has not finished its handshake within this time.")
                .typed(int.class, () -> handshakeSeconds, v -> handshakeSeconds = v);
        b.option("--image-opts")
                .describe("FILE is QEMU's option string (driver=qed,file.filename=…).")
                .flag(() -> imageOpts, v -> imageOpts = v);
        b.option("-s --snapshot")
                .describe("Serve a temporary overlay of FILE: clients' writes go to it, FILE is not "
                        + "changed, and the overlay is deleted when the server ends.")
                .flag(() -> snapshot, v -> snapshot = v);
        b.option("-A --allocation-depth")
                .describe("Offer the qemu:allocation-depth context (qed serve always offers it; accepted "
                        + "for qemu-nbd's command lines).")
                .flag(() -> allocationDepth, v -> allocationDepth = v);
        b.option("--fork")
                .describe("Go on in the background and return once the server listens (exit code 1 if it "
                        + "printed errors before), as qemu-nbd --fork does.")
                .flag(() -> fork, v -> fork = v);
        b.option(NOTIFY_READY).hidden()
                .flag(() -> notifyReady, v -> notifyReady = v);
        b.option("-c --connect").label("DEV").hidden()
                .text(() -> connectDevice, v -> connectDevice = v);
        b.option("-l --load-snapshot").label("NAME").hidden()
                .text(() -> loadSnapshot, v -> loadSnapshot = v);
        b.option("-B --bitmap").label("NAME").hidden()
                .text(() -> bitmap, v -> bitmap = v);
        b.option("--tls-creds --tls-authz --tls-hostname --object").label("ARG").hidden()
                .list(() -> tls, v -> tls = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        refuseWhatIsNotServed();
        if ((name == null) == (exportDir == null)) {
            throw new CliException("Give one image FILE or --export-dir DIR");
        }
        if (snapshot && (exportDir != null || readOnly)) {
            throw new CliException("-s/--snapshot serves a writable overlay of one FILE: not with "
                    + (exportDir != null ? "--export-dir" : "-r"));
        }
        Path file = null;
        if (name != null) {
            file = SharedOptions.qedFile("serve", name, imageOpts, format);
        } else if (!Files.isDirectory(exportDir)) {
            throw new CliException("--export-dir '" + exportDir + "': not a directory");
        }
        if (fork) {
            // Everything above is checked here, so a bad command line fails in the foreground.
            return ServeInBackground.start(spec.commandLine().getParseResult().originalArgs(),
                    spec.commandLine().getErr());
        }
        Path overlay = snapshot ? SnapshotOverlay.create(file, "qed", snapshotBaseSize(file)) : null;
        try {
            return serve(overlay != null ? overlay : file);
        } finally {
            if (overlay != null) {
                SnapshotOverlay.delete(overlay);
            }
        }
    }

    /** The guest size of the image served with {@code -s}, a failure to open it in qemu-nbd's words. */
    private static long snapshotBaseSize(Path file) throws IOException {
        try {
            return SnapshotOverlay.sizeOf(file, false);
        } catch (QedException e) {
            throw CliException.couldNotOpen(file, e);
        }
    }

    /** qemu-nbd's options that have no meaning here, refused with what to do instead. */
    private void refuseWhatIsNotServed() {
        if (connectDevice != null) {
            throw new CliException("-c/--connect is not supported: qed serve does not attach kernel NBD devices;"
                    + " serve on a socket and connect " + connectDevice + " with nbd-client, or use nbdfuse");
        }
        if (loadSnapshot != null) {
            throw new CliException("-l/--load-snapshot: QED images have no internal snapshots");
        }
        if (bitmap != null) {
            throw new CliException("-B/--bitmap: QED images have no dirty bitmaps");
        }
        if (tls != null) {
            throw new CliException("TLS (--tls-creds, --tls-authz, --tls-hostname, --object) is not supported: serve on"
                    + " a Unix socket or on 127.0.0.1 (the default), or carry the connection through a tunnel");
        }
    }

    private int serve(Path file) throws IOException, InterruptedException {
        Durability durability = switch (cache) {
            case "writeback", "none", "unsafe" -> Durability.WRITE_BACK;
            case "writethrough", "directsync" -> Durability.WRITE_THROUGH;
            default -> throw new CliException("Invalid cache mode '" + cache + "'");
        };
        boolean unmap = switch (discard) {
            case "ignore", "off" -> false;
            case "unmap", "on" -> true;
            default -> throw new CliException("Invalid discard mode '" + discard + "'");
        };
        boolean writeAhead = switch (firstBlocksAhead) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new CliException("Invalid first-blocks-ahead mode '" + firstBlocksAhead + "'");
        };
        if (shared < 0) {
            throw new CliException("Invalid shared device number '" + shared + "'");
        }
        if (port < 1 || port > 65535) {
            throw new CliException("Invalid port number '" + port + "'");
        }
        SocketAddress address = socket != null
                ? UnixDomainSocketAddress.of(socket.toAbsolutePath())
                : new InetSocketAddress(InetAddress.getByName(bind), port);
        OpenOptions options = (readOnly ? OpenOptions.READ_ONLY : OpenOptions.READ_WRITE).withDurability(durability)
                .withFirstBlocksWrittenAhead(writeAhead);
        QedImage opened = null;
        if (file != null) {
            try {
                opened = QedImage.open(file, options);
            } catch (QedException e) {
                throw new CliException("Failed to blk_new_open '" + file + "': "
                        + QemuMessages.openFailure(String.valueOf(file), e, readOnly), e.getMessage());
            }
        }
        try (QedImage served = opened) {
            NbdServer.Builder builder = NbdServer.builder();
            if (served != null) {
                builder.export(NbdExport.of(exportName, served).withReadOnly(readOnly)
                        .withDescription(description).withUnmap(unmap));
            } else {
                builder.exportDirectory(exportDir, options, unmap);
            }
            NbdServer server = builder
                    .listen(address)
                    .maxConnections(shared)
                    .multiConn(shared != 1)
                    .exitWhenIdle(!persistent)
                    .handshakeTimeout(java.time.Duration.ofSeconds(Math.max(1, handshakeSeconds)))
                    .build();
            server.start();
            try {
                stopOnSignals(server);
                if (pidFile != null) {
                    Files.writeString(pidFile, ProcessHandle.current().pid() + "\n");
                }
                if (notifyReady) {
                    spec.commandLine().getErr().println(READY_LINE);
                    spec.commandLine().getErr().flush();
                }
                server.awaitTermination();
            } finally {
                server.close();
                if (pidFile != null) {
                    Files.deleteIfExists(pidFile);
                }
            }
            // Closing the image (try-with-resources) commits, flushes and marks it clean; an
            // export directory's images are closed by the server.
        }
        return 0;
    }

    /**
     * SIGTERM and SIGINT close the server, and the command then ends as after its last
     * client: the image is closed clean and the exit code is 0, as qemu-nbd's is.
     */
    private static void stopOnSignals(NbdServer server) {
        for (String name : List.of("TERM", "INT")) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> Thread.ofPlatform().start(server::close));
            } catch (IllegalArgumentException e) {
                // the signal is taken by the JVM (-Xrs): the default handling remains
            }
        }
    }
}
