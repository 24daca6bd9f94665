-- The bar series of every timeframe that the marts measure against: one row per symbol, timeframe
-- and bar_start.
--
-- 1m..1h are the streaming bars as they are. For 1d there are two producers: the streaming rollup
-- (bars_1d) and the providers' daily history (daily_bars), on which `marketpipe backfill --timeframe
-- 1d` computes indicators_1d and the daily signals. A provider row wins for its (symbol,
-- session_date): it is the reference history the daily indicators were computed on, and it is
-- complete for days the stream did not see. Streaming 1d bars fill the days the providers have
-- not delivered yet (today). Provider rows have no VWAP, trade count or session split: NULL.
with

streaming as (
    select
        symbol, timeframe, bar_start, bar_end,
        open_price, high_price, low_price, close_price, volume,
        vwap, trade_count, session, session_date, is_filled,
        'stream'::text as bar_source
    from {{ ref('stg_bars') }}
),

daily as (
    select
        symbol,
        '1d'::text                          as timeframe,
        bar_start,
        -- the next regular session starts after a weekend or holiday, so no fixed length is right;
        -- the label is what matters and a day bar ends when the calendar day in New York does
        ((session_date + 1)::timestamp at time zone 'America/New_York') as bar_end,
        open_price, high_price, low_price, close_price, volume,
        null::double precision              as vwap,
        null::bigint                        as trade_count,
        'regular'::text                     as session,
        session_date,
        false                               as is_filled,
        'daily_bars'::text                  as bar_source
    from {{ ref('stg_daily_bars') }}
)

select * from streaming
where not (
    timeframe = '1d'
    and exists (
        select 1 from daily
        where daily.symbol = streaming.symbol
          and daily.session_date = streaming.session_date
    )
)

union all

select * from daily
