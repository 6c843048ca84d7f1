-- unpriced_tools: built-in tool charges that have no cost (tool_charges.reason), by api,
-- tool and reason: what the tool sums leave out, never counted as free.
create or replace view unpriced_tools as
with final as (
    select
        api,
        tool,
        reason,
        count(*) as charges,
        try_cast(sum(calls) as bigint) as calls,
        try_cast(sum(units) as bigint) as units,
        any_value(unit) as unit,
        min(day) as first_day,
        max(day) as last_day
    from tool_charges
    where cost_usd is null
    group by api, tool, reason
)

select * from final order by api, tool, reason;
