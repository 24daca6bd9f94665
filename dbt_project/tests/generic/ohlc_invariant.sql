{#
  A bar's high and low bound every trade in it, so low <= open, close <= high (hence low <= high),
  and volume is never negative. Returns the offending rows; the test fails when any comes back.
  NULL prices also fail: a bar without a price is not a bar.
#}
{% test ohlc_invariant(model, open='open_price', high='high_price', low='low_price',
                       close='close_price', volume='volume') %}

select *
from {{ model }}
where not (
        {{ low }} <= {{ high }}
    and {{ open }}  between {{ low }} and {{ high }}
    and {{ close }} between {{ low }} and {{ high }}
    and {{ volume }} >= 0
) is true

{% endtest %}
