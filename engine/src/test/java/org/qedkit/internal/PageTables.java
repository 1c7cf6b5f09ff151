package org.qedkit.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** What this process's page tables hold for a mapped image file, read from {@code /proc/self/pagemap}. */
final class PageTables {
    private PageTables() {
    }

    /**
     * Whether the page of {@code file} at {@code offset} is in this process's page tables at
     * the mapping's address: bit 63 of its {@code /proc/self/pagemap} entry (readable without
     * privileges; only the frame number is hidden). Maps the chunk if it was not, touching
     * no page.
     */
    static boolean mappedHere(MappedImageFile file, long offset) throws IOException {
        long address = file.readOnlyView(offset, 4096).address();
        try (FileChannel pagemap = FileChannel.open(Path.of("/proc/self/pagemap"))) {
            ByteBuffer entry = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
            if (pagemap.read(entry, address / 4096 * 8) != 8) {
                throw new IOException("no pagemap entry for address " + address);
            }
            return entry.getLong(0) < 0;
        }
    }
}
