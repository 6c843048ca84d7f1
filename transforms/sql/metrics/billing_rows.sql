-- billing_rows: every row of billing_usage and billing_costs in one shape, with its
-- layout (what cost_reconciliation sums, through billed_by_family). README,
-- "Reconciling estimated cost with the bill".
--   source           'usage' (Usage API, completions) or 'costs' (Costs API)
--   grouping_name    the grouping dimensions the row has, comma-separated, in column order
--                    (usage: model, project_id, user_id, api_key_id, batch, service_tier,
--                    api_source; costs: line_item, project_id, user_id, api_key_id,
--                    api_source)
--   dimensions       how many
--   by_model         grouped by model (usage) or line_item (costs)
--   requests, input_tokens, cached_tokens, output_tokens   usage rows (NULL for costs)
--   cost_usd         costs rows: amount_value of a USD line item (currency `usd` in any
--                    case, or none), else NULL
create or replace view billing_rows as
with usage_rows as (
    select
        'usage' as source,
        *,  -- (no multi-column `exclude`: DuckDB stores its list in no fixed order, and
        -- `steplens check` compares the stored view text with its own)
        num_model_requests as requests,
        coalesce(input_cached_tokens, 0) as cached_tokens
    from billing_usage
),

cost_rows as (
    select
        'costs' as source,
        *,
        case when amount_value is not null and lower(coalesce(currency, 'usd')) = 'usd'
            then amount_value end as cost_usd
    from billing_costs
),

dimensioned as (
    select
        *,
        list_filter([
            case when source = 'usage' and model is not null then 'model' end,
            case when line_item is not null then 'line_item' end,
            case when project_id is not null then 'project_id' end,
            case when user_id is not null then 'user_id' end,
            case when api_key_id is not null then 'api_key_id' end,
            case when batch is not null then 'batch' end,
            case when service_tier is not null then 'service_tier' end,
            case when api_source is not null then 'api_source' end
        ], lambda d: d is not null) as grouped_by
    from (from usage_rows union all by name from cost_rows)
),

final as (
    select
        source,
        day,
        bucket_width_s,
        empty_bucket,
        model,
        requests::bigint as requests,
        input_tokens::bigint as input_tokens,
        cached_tokens::bigint as cached_tokens,
        output_tokens::bigint as output_tokens,
        cost_usd::double as cost_usd,
        array_to_string(grouped_by, ',') as grouping_name,
        len(grouped_by) as dimensions,
        (case when source = 'usage' then model else line_item end) is not null as by_model
    from dimensioned
)

select * from final;
