-- Serving tables the Flink JDBC sinks upsert into (the JDBC connector does not create tables).
-- Applied by `marketpipe stack up` on every start; idempotent.

CREATE TABLE IF NOT EXISTS bars_1m (
    symbol       text             NOT NULL,
    bar_start    timestamptz      NOT NULL,  -- interval [bar_start, bar_end), labelled by its start
    bar_end      timestamptz      NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       bigint           NOT NULL,
    vwap         double precision NOT NULL,
    trade_count  bigint           NOT NULL,
    PRIMARY KEY (symbol, bar_start)
);

CREATE TABLE IF NOT EXISTS indicators_1m (
    symbol       text             NOT NULL,
    bar_start    timestamptz      NOT NULL,
    close        double precision NOT NULL,
    ema_12       double precision,            -- NULL until warm (TA-Lib convention)
    ema_26       double precision,
    rsi_14       double precision,
    macd         double precision,
    macd_signal  double precision,
    macd_hist    double precision,
    is_warm      boolean          NOT NULL,   -- every indicator above has a value
    PRIMARY KEY (symbol, bar_start)
);

CREATE TABLE IF NOT EXISTS signals (
    symbol       text             NOT NULL,
    bar_start    timestamptz      NOT NULL,
    strategy     text             NOT NULL,
    action       text             NOT NULL CHECK (action IN ('buy', 'sell', 'hold')),
    reason       text             NOT NULL,
    close        double precision,
    macd_hist    double precision,
    rsi_14       double precision,
    PRIMARY KEY (symbol, bar_start, strategy)
);

-- Every rejected tick, with the reason; keyed by its Kafka position so replays stay idempotent.
CREATE TABLE IF NOT EXISTS ticks_dlq (
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    reason          text        NOT NULL,
    symbol          text,
    payload         text        NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (kafka_partition, kafka_offset)
);
