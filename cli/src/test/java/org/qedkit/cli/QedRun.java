package org.qedkit.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One in-process run of {@code qed}: what it printed and returned. */
record QedRun(int exitCode, String stdout, String stderr) {

    static QedRun of(Object... args) {
        String[] strings = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            strings[i] = String.valueOf(args[i]);
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = QedCommand.execute(strings, new PrintWriter(out, true), new PrintWriter(err, true));
        return new QedRun(code, out.toString(), err.toString());
    }
}
