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

-- Indicators per bar timeframe (docs/indicators.md): NULL while an indicator warms up, and a
-- `<name>_warm` flag per indicator. indicators_1m is written by the streaming job, indicators_1d by
-- `marketpipe backfill --timeframe 1d`.
DO $$
DECLARE tf text;
BEGIN
  FOREACH tf IN ARRAY ARRAY['1m', '1d'] LOOP
    EXECUTE format($ddl$
      CREATE TABLE IF NOT EXISTS %I (
        symbol         text             NOT NULL,
        bar_start      timestamptz      NOT NULL,
        close          double precision NOT NULL,
        volume         bigint           NOT NULL,
        ema_12         double precision,
        ema_26         double precision,
        rsi_14         double precision,
        rsi_14_prev    double precision,
        macd           double precision,
        macd_signal    double precision,
        macd_hist      double precision,
        macd_hist_prev double precision,
        sma_20         double precision,
        bb_middle      double precision,
        bb_upper       double precision,
        bb_lower       double precision,
        atr_14         double precision,
        stoch_k        double precision,
        stoch_d        double precision,
        vwap_session   double precision,
        volume_sma_20  double precision,
        is_warm        boolean NOT NULL,  -- ema_12, ema_26, rsi_14 and macd all have values
        ema_12_warm        boolean NOT NULL,
        ema_26_warm        boolean NOT NULL,
        rsi_14_warm        boolean NOT NULL,
        macd_warm          boolean NOT NULL,
        sma_20_warm        boolean NOT NULL,
        bb_warm            boolean NOT NULL,
        atr_14_warm        boolean NOT NULL,
        stoch_warm         boolean NOT NULL,
        vwap_warm          boolean NOT NULL,
        volume_sma_20_warm boolean NOT NULL,
        PRIMARY KEY (symbol, bar_start)
      )$ddl$, 'indicators_' || tf);
  END LOOP;
END $$;

CREATE TABLE IF NOT EXISTS signals (
    symbol       text             NOT NULL,
    timeframe    text             NOT NULL,   -- of the bars the strategy ran on: 1m, 1d, ...
    bar_start    timestamptz      NOT NULL,
    strategy     text             NOT NULL,
    action       text             NOT NULL CHECK (action IN ('buy', 'sell', 'hold')),
    reason       text             NOT NULL,
    close        double precision,
    macd_hist    double precision,
    rsi_14       double precision,
    PRIMARY KEY (symbol, timeframe, bar_start, strategy)
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
