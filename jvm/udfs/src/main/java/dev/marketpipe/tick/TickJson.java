package dev.marketpipe.tick;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;

import java.io.IOException;

/**
 * One pass over a raw tick record (a JSON object, docs/ticks.md): the fields the cleaning rules of
 * flink_sql/11_ticks_clean.sql look at, each with its JSON type. No rule is applied here: the SQL
 * decides what is clean and why a record is rejected; this class only reads the JSON, once.
 *
 * <p>Scalar fields are read as {@code JSON_VALUE} would: a string gives its value, a number or a
 * boolean its text, and {@code null}, an object or an array give no value (but their type). A
 * field that is absent has neither. A record that is not exactly one JSON object (truncated, an
 * array, a string, trailing text) is {@link #isObject() not an object}, with no field.
 */
public final class TickJson {

    /** JSON types, as the SQL compares them. */
    public static final String STRING = "string";
    public static final String INTEGER = "integer";
    public static final String FLOAT = "float";
    public static final String BOOLEAN = "boolean";
    public static final String NULL = "null";
    public static final String OBJECT = "object";
    public static final String ARRAY = "array";

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build())
            .build();

    private boolean object;
    private String kind;
    private String symbol;
    private String symbolType;
    private Long tsNs;
    private String tsType;
    private Double price;
    private String priceType;
    private Long size;
    private String sizeType;
    private String exchange;
    private String conditions;
    private String tradeId;
    private String source;

    private TickJson() {}

    /** Reads {@code payload} (null: a tombstone, not an object). Never throws. */
    public static TickJson parse(String payload) {
        TickJson t = new TickJson();
        if (payload == null) {
            return t;
        }
        try (JsonParser p = FACTORY.createParser(payload)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return t;
            }
            TickJson read = new TickJson();
            for (JsonToken tok = p.nextToken(); tok != JsonToken.END_OBJECT; tok = p.nextToken()) {
                if (tok != JsonToken.FIELD_NAME) {
                    return t;
                }
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (value == null) {
                    return t;
                }
                read.field(name, value, p);
            }
            if (p.nextToken() != null) {
                return t; // text after the object
            }
            read.object = true;
            return read;
        } catch (IOException | RuntimeException e) {
            return new TickJson(); // malformed: not an object, no fields
        }
    }

    private void field(String name, JsonToken value, JsonParser p) throws IOException {
        String type = typeOf(value);
        String text = value.isScalarValue() && value != JsonToken.VALUE_NULL ? p.getText() : null;
        if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
            p.skipChildren();
        }
        switch (name) {
            case "kind" -> kind = text;
            case "symbol" -> {
                symbol = text;
                symbolType = type;
            }
            case "ts_ns" -> {
                tsType = type;
                tsNs = value == JsonToken.VALUE_NUMBER_INT ? longOrNull(p) : null;
            }
            case "price" -> {
                priceType = type;
                price = value.isNumeric() ? p.getValueAsDouble() : null;
            }
            case "size" -> {
                sizeType = type;
                size = value == JsonToken.VALUE_NUMBER_INT ? longOrNull(p) : null;
            }
            case "exchange" -> exchange = text;
            case "conditions" -> conditions = text;
            case "trade_id" -> tradeId = text;
            case "source" -> source = text;
            default -> { }
        }
    }

    private static Long longOrNull(JsonParser p) throws IOException {
        JsonParser.NumberType nt = p.getNumberType();
        return nt == JsonParser.NumberType.INT || nt == JsonParser.NumberType.LONG ? p.getLongValue() : null;
    }

    private static String typeOf(JsonToken t) {
        return switch (t) {
            case VALUE_STRING -> STRING;
            case VALUE_NUMBER_INT -> INTEGER;
            case VALUE_NUMBER_FLOAT -> FLOAT;
            case VALUE_TRUE, VALUE_FALSE -> BOOLEAN;
            case VALUE_NULL -> NULL;
            case START_OBJECT -> OBJECT;
            case START_ARRAY -> ARRAY;
            default -> null;
        };
    }

    public boolean isObject() { return object; }
    public String kind() { return kind; }
    public String symbol() { return symbol; }
    public String symbolType() { return symbolType; }
    public Long tsNs() { return tsNs; }
    public String tsType() { return tsType; }
    public Double price() { return price; }
    public String priceType() { return priceType; }
    public Long size() { return size; }
    public String sizeType() { return sizeType; }
    public String exchange() { return exchange; }
    public String conditions() { return conditions; }
    public String tradeId() { return tradeId; }
    public String source() { return source; }
}
