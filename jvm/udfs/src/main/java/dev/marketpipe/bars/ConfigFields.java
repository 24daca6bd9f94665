package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A row's columns as the job config carries them: {@code [[name, Flink SQL type], ...]} under a key.
 * udfs/flink/bars.py puts the rows of udfs/schema.py there, so the JVM step follows the one declaration
 * of each row, or fails the job build naming the column it cannot follow.
 */
public final class ConfigFields {

    private ConfigFields() {}

    /** The {@code [name, type]} pairs under {@code key}; missing, empty or malformed fails, naming the key. */
    public static List<String[]> read(String configJson, String key) {
        Object fields = Json.object(Json.parse(configJson), "the bar config").get(key);
        if (!(fields instanceof List<?> list) || list.isEmpty()) {
            throw new IllegalArgumentException("the bar config lacks " + key
                    + ", a row's [name, Flink type] pairs (udfs/flink/bars.py adds them from udfs/schema.py)");
        }
        List<String[]> out = new ArrayList<>();
        for (Object field : list) {
            if (!(field instanceof List<?> pair) || pair.size() != 2) {
                throw new IllegalArgumentException(key + ": a field is [name, Flink type], got " + field);
            }
            String name = Json.string(pair.get(0), key + " name");
            out.add(new String[] {name, Json.string(pair.get(1), key + " type of " + name)});
        }
        return out;
    }

    /**
     * Fails unless the row under {@code key} is exactly {@code filled}: the columns, in order and with
     * their types, that this step fills (positionally) for {@code what}.
     */
    public static void require(String configJson, String key, String[][] filled, String what) {
        List<String[]> declared = read(configJson, key);
        boolean same = declared.size() == filled.length;
        for (int i = 0; same && i < filled.length; i++) {
            same = Arrays.equals(declared.get(i), filled[i]);
        }
        if (!same) {
            throw new IllegalArgumentException(what + " are " + show(declared) + " in udfs/schema.py, but the JVM bar "
                    + "step fills " + show(Arrays.asList(filled)) + " (dev.marketpipe.flink.BarStep)");
        }
    }

    private static String show(List<String[]> fields) {
        List<String> out = new ArrayList<>();
        for (String[] f : fields) {
            out.add(f[0] + " " + f[1]);
        }
        return out.toString();
    }
}
