-- Indicators on each daily bar (`marketpipe backfill --timeframe 1d`); the select is macros/stg_indicators.sql.
{{ stg_indicators('1d') }}
