package org.qedkit.cli;

import org.qedkit.Limits;
import org.qedkit.LockPolicy;
import org.qedkit.CheckMode;
import org.qedkit.CheckResult;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code qed check}: as {@code qemu-img check}, with the same output, JSON keys and exit
 * codes (0 clean, 1 check failed, 2 corruptions, 3 leaks only), and repairs QEMU lacks:
 * {@code -r leaks} gives leaked space back, {@code -r all} also gives each of two entries
 * sharing a cluster its own copy. Each problem found is one {@code ERROR} line on stderr.
 */
final class CheckCommand implements Callable<Integer>, DeclaredCommand {

    final SharedOptions.ImageFile image = new SharedOptions.ImageFile();
    final SharedOptions.ForceShare forceShare = new SharedOptions.ForceShare();
    final SharedOptions.Quiet quiet = new SharedOptions.Quiet();
    final SharedOptions.Output output = new SharedOptions.Output();
    String repair;
    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        SpecBuilder b = SpecBuilder.command("check", this, "Check a QED image for consistency, and "
                + "optionally repair it, as qemu-img check does.");
        image.declare(b);
        forceShare.declare(b);
        quiet.declare(b);
        output.declare(b);
        b.option("-r").label("leaks|all")
                .describe("Repair: leaks, or all (leaks, invalid and shared entries).")
                .text(() -> repair, v -> repair = v);
        spec = b.spec();
        return spec;
    }

    @Override
    public Integer call() throws IOException {
        Path file = image.qed("check");
        boolean json = output.json();
        CheckMode mode;
        if (repair == null) {
            mode = CheckMode.REPORT;
        } else if (repair.equals("leaks")) {
            mode = CheckMode.REPAIR_LEAKS;
        } else if (repair.equals("all")) {
            mode = CheckMode.REPAIR_ALL;
        } else {
            throw new CliException("check: -r takes leaks or all, not '" + repair + "'");
        }
        CheckResult r;
        try {
            if (forceShare.on && mode != CheckMode.REPORT) {
                throw new CliException("check: -U cannot be combined with -r: a repair needs the image to itself");
            }
            r = QedImage.check(file, mode, forceShare.on ? LockPolicy.FORCE_SHARE : LockPolicy.LOCK, Limits.DEFAULT);
        } catch (QedException e) {
            throw CliException.couldNotOpen(file, e);
        }
        if (quiet.on) {
            return r.exitCode();
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        for (String problem : r.problems()) {
            err.println("ERROR " + problem);
        }
        err.flush();
        if (json) {
            out.print(json(r));
        } else {
            out.print(human(r));
        }
        out.flush();
        return r.exitCode();
    }

    private String json(CheckResult r) {
        Map<String, Object> o = Json.object();
        o.put("total-clusters", r.totalClusters());
        putNonZero(o, "corruptions", r.corruptions());
        putNonZero(o, "corruptions-fixed", r.corruptionsFixed());
        o.put("check-errors", r.checkErrors());
        putNonZero(o, "leaks", r.leaks());
        putNonZero(o, "leaks-fixed", r.leaksFixed());
        putNonZero(o, "free-clusters", r.freeClusters()); // qedkit's: punched, reused; QEMU counts them in "leaks"
        putNonZero(o, "allocated-clusters", r.allocatedClusters());
        o.put("filename", image.file.toString());
        o.put("format", "qed");
        putNonZero(o, "fragmented-clusters", r.fragmentedClusters());
        return Json.write(o);
    }

    private static void putNonZero(Map<String, Object> o, String key, long value) {
        if (value != 0) {
            o.put(key, value);
        }
    }

    private static String human(CheckResult r) {
        StringBuilder s = new StringBuilder();
        if (r.corruptionsFixed() > 0 || r.leaksFixed() > 0) {
            s.append("The following inconsistencies were found and repaired:\n\n")
                    .append("    ").append(r.leaksFixed()).append(" leaked clusters\n")
                    .append("    ").append(r.corruptionsFixed()).append(" corruptions\n\n")
                    .append("Double checking the fixed image now...\n");
        }
        if (r.isClean()) {
            s.append("No errors were found on the image.\n");
        } else {
            if (r.corruptions() > 0) {
                s.append('\n').append(r.corruptions()).append(" errors were found on the image.\n")
                        .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
            }
            if (r.leaks() > 0) {
                s.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n")
                        .append("This means waste of disk space, but no harm to data.\n");
            }
            if (r.checkErrors() > 0) {
                s.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
            }
        }
        if (r.freeClusters() > 0) { // not a problem: only an image with discards has them, and QEMU has no such line
            s.append('\n').append(r.freeClusters()).append(" free clusters were found on the image (given back by "
                    + "discards; qed reuses them, qemu-img check counts them as leaked).\n");
        }
        if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
            s.append(String.format(Locale.ROOT, "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters%n",
                    r.allocatedClusters(), r.totalClusters(),
                    r.allocatedClusters() * 100.0 / r.totalClusters(),
                    r.fragmentedClusters() * 100.0 / r.allocatedClusters(), 0.0));
        }
        return s.toString();
    }
}
