/**
 * qedkit NBD server: serves QED images to any NBD client (QEMU, libnbd's tools, the Linux
 * kernel's client, fio) over Unix sockets or TCP. Built only on the engine's public API
 * ({@code org.qedkit}); see {@link org.qedkit.nbd.NbdServer}.
 */
module org.qedkit.nbd {
    requires transitive org.qedkit.engine;

    exports org.qedkit.nbd;
}
