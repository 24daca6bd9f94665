package dev.marketpipe.bars;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader on jackson-core's streaming parser (no databind): objects become
 * {@link LinkedHashMap}s, arrays {@link ArrayList}s, integers {@link Long}, other numbers {@link Double}.
 */
final class Json {
    static final JsonFactory FACTORY = new JsonFactory();

    private Json() {
    }

    /** The value of a JSON text. */
    static Object parse(String text) {
        try (JsonParser p = FACTORY.createParser(text)) {
            p.nextToken();
            return value(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Object value(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        switch (t) {
            case START_OBJECT: {
                Map<String, Object> m = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String k = p.currentName();
                    p.nextToken();
                    m.put(k, value(p));
                }
                return m;
            }
            case START_ARRAY: {
                List<Object> a = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    a.add(value(p));
                }
                return a;
            }
            case VALUE_STRING:
                return p.getText();
            case VALUE_NUMBER_INT:
                return p.getLongValue();
            case VALUE_NUMBER_FLOAT:
                return p.getDoubleValue();
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return null;
            default:
                throw new IOException("unexpected JSON token " + t);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(Object v, String what) {
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException(what + " must be a JSON object");
        }
        return (Map<String, Object>) v;
    }

    static String string(Object v, String what) {
        if (v != null && !(v instanceof String)) {
            throw new IllegalArgumentException(what + " must be a string");
        }
        return (String) v;
    }

    static Long integer(Object v, String what) {
        if (v != null && !(v instanceof Long)) {
            throw new IllegalArgumentException(what + " must be an integer");
        }
        return (Long) v;
    }

    static double number(Object v, String what) {
        if (!(v instanceof Number)) {
            throw new IllegalArgumentException(what + " must be a number");
        }
        return ((Number) v).doubleValue();
    }
}
