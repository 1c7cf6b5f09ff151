/**
 * qedkit engine: reads and writes QED (QEMU Enhanced Disk) images through memory mappings.
 *
 * <p>Only {@code org.qedkit} is exported; everything under {@code org.qedkit.internal} may
 * change without notice. The engine calls {@code fallocate}, {@code fdatasync} and
 * {@code mmap} through the foreign function API, so a program using it must run with
 * {@code --enable-native-access=org.qedkit.engine} (module path) or
 * {@code --enable-native-access=ALL-UNNAMED} (class path).
 */
module org.qedkit.engine {
    exports org.qedkit;
}
