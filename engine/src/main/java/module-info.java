/**
 * qedkit engine: reads and writes QED (QEMU Enhanced Disk) images through memory mappings.
 *
 * <p>Only {@code org.qedkit} is exported to everyone; everything under
 * {@code org.qedkit.internal} may change without notice. The test hooks
 * ({@code org.qedkit.internal.hooks}: a storage observer and a clock attached to one open
 * image) are exported only to the crash and fault campaigns, as Lucene exports its test
 * internals. The engine calls {@code fallocate}, {@code fdatasync} and {@code mmap} through
 * the foreign function API, so a program using it must run with
 * {@code --enable-native-access=org.qedkit.engine} (module path) or
 * {@code --enable-native-access=ALL-UNNAMED} (class path).
 */
@SuppressWarnings({"module", "requires-automatic"}) // org.qedkit.stress is named by its jar manifest; Agrona is an automatic module
module org.qedkit.engine {
    requires org.agrona;

    exports org.qedkit;
    exports org.qedkit.internal.hooks to org.qedkit.stress;
}
