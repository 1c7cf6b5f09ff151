package org.qedkit.cli;

import java.io.PrintWriter;

/**
 * qemu-img's progress line ({@code -p}): "    (NN.NN/100%)" redrawn with a carriage return
 * at each whole percent, ending with 100% and a new line. Prints nothing without a writer.
 */
final class Progress {
    private final PrintWriter out;
    private final long total;
    private int shownPercent = -1;

    Progress(PrintWriter out, long total) {
        this.out = out;
        this.total = total;
        at(0);
    }

    void at(long done) {
        if (out == null) {
            return;
        }
        double percent = total == 0 ? 100 : 100.0 * done / total;
        if ((int) percent > shownPercent) {
            shownPercent = (int) percent;
            out.printf(java.util.Locale.ROOT, "    (%.2f/100%%)\r", percent);
            out.flush();
        }
    }

    void done() {
        if (out != null) {
            out.printf("    (100.00/100%%)\r%n");
            out.flush();
        }
    }
}
