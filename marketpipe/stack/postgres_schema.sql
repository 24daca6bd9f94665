-- Serving tables the Flink JDBC sinks upsert into (the JDBC connector does not create tables).
-- Applied by `marketpipe stack up` on every start; idempotent.

-- Bars per timeframe (docs/bars.md): bars_1m from ticks, bars_5m/15m/1h/1d rolled up from 1m bars,
-- session-aligned. A bar revised by a late tick within the grace period is updated in place and its
-- `revision` goes up by one. first/last_trade_at and pv_sum (the VWAP numerator, sum of price*size over
-- volume-eligible trades) keep bars mergeable. `filled` marks a flat bar made for an empty minute.
DO $$
DECLARE tf text;
BEGIN
  FOREACH tf IN ARRAY ARRAY['1m', '5m', '15m', '1h', '1d'] LOOP
    EXECUTE format($ddl$
      CREATE TABLE IF NOT EXISTS %I (
        symbol         text             NOT NULL,
        bar_start      timestamptz      NOT NULL,  -- interval [bar_start, bar_end), labelled by its start
        bar_end        timestamptz      NOT NULL,
        open           double precision NOT NULL,
        high           double precision NOT NULL,
        low            double precision NOT NULL,
        close          double precision NOT NULL,
        volume         bigint           NOT NULL,
        vwap           double precision NOT NULL,  -- pv_sum / volume; the close when volume is 0
        trade_count    bigint           NOT NULL,
        session        text             NOT NULL DEFAULT 'regular',  -- pre, regular, post
        session_date   date,                        -- trading day in the exchange's calendar
        first_trade_at timestamptz,
        last_trade_at  timestamptz,
        pv_sum         double precision NOT NULL DEFAULT 0,
        filled         boolean          NOT NULL DEFAULT false,
        revision       integer          NOT NULL DEFAULT 0,
        PRIMARY KEY (symbol, bar_start)
      )$ddl$, 'bars_' || tf);
    -- tables created by an earlier version of this file get the new columns
    EXECUTE format($ddl$
      ALTER TABLE %I
        ADD COLUMN IF NOT EXISTS session text NOT NULL DEFAULT 'regular',
        ADD COLUMN IF NOT EXISTS session_date date,
        ADD COLUMN IF NOT EXISTS first_trade_at timestamptz,
        ADD COLUMN IF NOT EXISTS last_trade_at timestamptz,
        ADD COLUMN IF NOT EXISTS pv_sum double precision NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS filled boolean NOT NULL DEFAULT false,
        ADD COLUMN IF NOT EXISTS revision integer NOT NULL DEFAULT 0
      $ddl$, 'bars_' || tf);
    -- Revised bars are rare: the exporter's revision total (marketpipe/monitoring/slis.py) reads this
    -- small partial index instead of scanning the table on every scrape.
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (revision) WHERE revision > 0',
                   'bars_' || tf || '_revised', 'bars_' || tf);
  END LOOP;
END $$;

-- Daily OHLCV loaded in batch from data providers (Stooq, Tiingo, local files) by the Dagster assets
-- (orchestration/); one row per symbol and trading day of the exchange calendar, replaced when the
-- day's partition is re-run. bar_start is the regular session's open (09:30 New York for XNYS).
CREATE TABLE IF NOT EXISTS daily_bars (
    symbol        text             NOT NULL,
    session_date  date             NOT NULL,
    bar_start     timestamptz      NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        bigint           NOT NULL,
    adj_close     double precision,           -- the provider's adjusted close, when it offers one
    dividend      double precision,           -- cash dividend with ex-date on this day, when offered
    split_factor  double precision,           -- split ratio effective this day, when offered
    source        text             NOT NULL,  -- stooq, tiingo, file:<name>
    loaded_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, session_date)
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
-- stage: 'clean' (the record is not a valid trade, flink_sql/11) or 'bars' (a valid trade in no bar:
-- late, market closed, duplicate, outlier, ... flink_sql/12).
CREATE TABLE IF NOT EXISTS ticks_dlq (
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    stage           text        NOT NULL DEFAULT 'clean',
    reason          text        NOT NULL,
    symbol          text,
    payload         text        NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (kafka_partition, kafka_offset)
);
ALTER TABLE ticks_dlq ADD COLUMN IF NOT EXISTS stage text NOT NULL DEFAULT 'clean';
-- Dead letters by stage and reason (the exporter's counts, docs/monitoring.md): an index-only count.
CREATE INDEX IF NOT EXISTS ticks_dlq_stage_reason ON ticks_dlq (stage, reason);

-- What the bars job read from each raw-topic partition and how it classified it (flink_sql/11):
-- raw_records = clean + rejected + heartbeats, upserted as the counts grow. The view
-- tick_accounting checks it against the dead-letter table (docs/ticks.md).
CREATE TABLE IF NOT EXISTS tick_counts (
    kafka_partition integer PRIMARY KEY,
    raw_records     bigint  NOT NULL,
    clean           bigint  NOT NULL,
    rejected        bigint  NOT NULL,
    heartbeats      bigint  NOT NULL,
    max_offset      bigint
);

-- Every record accounted for, per partition: `balanced` when the counts add up and every rejected
-- record is in ticks_dlq. Exact once the pipeline is idle (the sinks flush every second and on
-- checkpoints); `clean_in_bars` is what reached a bar.
CREATE OR REPLACE VIEW tick_accounting AS
SELECT
    c.kafka_partition,
    c.raw_records,
    c.clean,
    c.rejected,
    c.heartbeats,
    coalesce(d.dlq_clean, 0)                    AS dlq_clean_stage,
    coalesce(d.dlq_bars, 0)                     AS dlq_bars_stage,
    c.clean - coalesce(d.dlq_bars, 0)           AS clean_in_bars,
    c.raw_records = c.clean + c.rejected + c.heartbeats
        AND c.rejected = coalesce(d.dlq_clean, 0) AS balanced,
    c.max_offset
FROM tick_counts c
LEFT JOIN (
    SELECT kafka_partition,
           count(*) FILTER (WHERE stage = 'clean') AS dlq_clean,
           count(*) FILTER (WHERE stage = 'bars')  AS dlq_bars
    FROM ticks_dlq
    GROUP BY kafka_partition
) d USING (kafka_partition);
