package dev.marketpipe.flink;

import dev.marketpipe.bars.EngineState;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * How Flink checkpoints a symbol's bar state: {@link EngineState#toBytes()} (versioned, exact round
 * trip), length-prefixed. The heap state backend keeps the live object between checkpoints, so this
 * runs once per symbol per checkpoint, not per tick; {@link #copy} is the deep copy the backend takes
 * when a tick arrives while an asynchronous checkpoint still holds the old value.
 */
public final class EngineStateSerializer extends TypeSerializer<EngineState> {

    private static final long serialVersionUID = 1L;

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public TypeSerializer<EngineState> duplicate() {
        return this; // stateless
    }

    @Override
    public EngineState createInstance() {
        return null;
    }

    @Override
    public EngineState copy(EngineState from) {
        return from == null ? null : from.copy();
    }

    @Override
    public EngineState copy(EngineState from, EngineState reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(EngineState record, DataOutputView target) throws IOException {
        byte[] bytes = record.toBytes();
        target.writeInt(bytes.length);
        target.write(bytes);
    }

    @Override
    public EngineState deserialize(DataInputView source) throws IOException {
        byte[] bytes = new byte[source.readInt()];
        source.readFully(bytes);
        return EngineState.fromBytes(bytes);
    }

    @Override
    public EngineState deserialize(EngineState reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        int n = source.readInt();
        target.writeInt(n);
        target.write(source, n);
    }

    @Override
    public boolean equals(Object obj) {
        return obj instanceof EngineStateSerializer;
    }

    @Override
    public int hashCode() {
        return EngineStateSerializer.class.hashCode();
    }

    @Override
    public TypeSerializerSnapshot<EngineState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer has no configuration: its format version lives inside the bytes. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<EngineState> {
        public Snapshot() {
            super(EngineStateSerializer::new);
        }
    }
}
