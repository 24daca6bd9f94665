package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.List;

/** What one call into the engine produced; mirrors Python {@code udfs.bars.model.Output}. */
public final class Output {
    public final List<BarRow> bars = new ArrayList<>();
    public final List<Rejected> rejected = new ArrayList<>();

    /** Python {@code Output.extend}: append another output's bars and rejects. */
    public void extend(Output other) {
        bars.addAll(other.bars);
        rejected.addAll(other.rejected);
    }
}
