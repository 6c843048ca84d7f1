-- cost_reconciliation: estimated cost against the bill, one row per UTC day x model family
-- (model_family: the bill names snapshots, runs the names they were given). README,
-- "Reconciling estimated cost with the bill".
-- Seen (the export): a request seen is a `usage` row (an Assistants step or a Responses
--   response with usage): the Usage API counts model requests, and a run calls the model
--   once per step. requests_seen, input_tokens_seen (prompt_tokens), cached_tokens_seen,
--   output_tokens_seen (completion_tokens), estimated_cost_usd (list-price cost_usd of the
--   priced rows), unpriced_requests (usage but no price).
-- Billed (billing_usage, billing_costs): per day one layout (bucket width x grouping
--   dimensions) is summed, so a day exported both by model and by model x project counts
--   once: grouped by model (costs: line_item) first, then the widest bucket, then the
--   fewest dimensions, then the grouping's name. billed_cost_usd: USD line items (currency
--   `usd` in any case, or none) attributed by their parsed model. On a day a table covers
--   (it has any row that day, an empty bucket included) a family without rows is billed 0;
--   on a day it does not cover, its billed columns are NULL.
-- Gaps: billed - seen (positive: the bill holds more than the export explains); *_pct =
--   100 x gap / billed, NULL when billed is NULL or 0.
-- finding, the first that applies: no_billing_data, unattributed (family NULL: usage
--   without group_by=model, costs of no model), missing_in_export, not_billed,
--   incomplete_export (billed > seen: requests, input or output tokens), exceeds_bill,
--   unpriced, mispriced (|cost_gap_pct| > 1), ok.
-- Every project of the billing data is summed: export with project_ids=[...] to reconcile
-- one project.
create or replace view cost_reconciliation as
with seen as (
    select
        day,
        model_family(model) as family,
        list_sort(list(distinct model) filter (where model is not null)) as models,
        count(*) as requests,
        try_cast(coalesce(sum(prompt_tokens), 0) as bigint) as input_tokens,
        try_cast(coalesce(sum(cached_tokens), 0) as bigint) as cached_tokens,
        try_cast(coalesce(sum(completion_tokens), 0) as bigint) as output_tokens,
        coalesce(sum(cost_usd), 0.0)::double as estimated_cost_usd,
        count(*) filter (
            where cost_usd is null
            and (prompt_tokens is not null or completion_tokens is not null)
        ) as unpriced_requests
    from usage
    group by 1, 2
),

usage_layouts as (
    select
        *,
        concat_ws(
            ',',
            case when model is not null then 'model' end,
            case when project_id is not null then 'project_id' end,
            case when user_id is not null then 'user_id' end,
            case when api_key_id is not null then 'api_key_id' end,
            case when batch is not null then 'batch' end,
            case when service_tier is not null then 'service_tier' end,
            case when api_source is not null then 'api_source' end
        ) as grouping_name,
        (model is not null)::int + (project_id is not null)::int
        + (user_id is not null)::int + (api_key_id is not null)::int
        + (batch is not null)::int + (service_tier is not null)::int
        + (api_source is not null)::int as dimensions
    from billing_usage
),

usage_choice as (
    select day, bucket_width_s, grouping_name
    from (select distinct day, bucket_width_s, grouping_name, dimensions from usage_layouts)
    qualify row_number() over (
        partition by day
        order by
            list_contains(string_split(grouping_name, ','), 'model') desc,
            bucket_width_s desc, dimensions asc, grouping_name asc
    ) = 1
),

billed_usage as (
    select
        u.day,
        model_family(u.model) as family,
        list(distinct u.model) filter (where u.model is not null) as models,
        try_cast(sum(u.num_model_requests) as bigint) as requests,
        try_cast(sum(u.input_tokens) as bigint) as input_tokens,
        try_cast(sum(coalesce(u.input_cached_tokens, 0)) as bigint) as cached_tokens,
        try_cast(sum(u.output_tokens) as bigint) as output_tokens
    from usage_layouts as u
    inner join usage_choice as c
        on
            u.day = c.day
            and u.bucket_width_s = c.bucket_width_s
            and u.grouping_name = c.grouping_name
    where not u.empty_bucket
    group by 1, 2
),

costs_layouts as (
    select
        *,
        concat_ws(
            ',',
            case when line_item is not null then 'line_item' end,
            case when project_id is not null then 'project_id' end,
            case when user_id is not null then 'user_id' end,
            case when api_key_id is not null then 'api_key_id' end,
            case when api_source is not null then 'api_source' end
        ) as grouping_name,
        (line_item is not null)::int + (project_id is not null)::int
        + (user_id is not null)::int + (api_key_id is not null)::int
        + (api_source is not null)::int as dimensions
    from billing_costs
),

costs_choice as (
    select day, bucket_width_s, grouping_name
    from (select distinct day, bucket_width_s, grouping_name, dimensions from costs_layouts)
    qualify row_number() over (
        partition by day
        order by
            list_contains(string_split(grouping_name, ','), 'line_item') desc,
            bucket_width_s desc, dimensions asc, grouping_name asc
    ) = 1
),

billed_costs as (
    select
        u.day,
        model_family(u.model) as family,
        list(distinct u.model) filter (where u.model is not null) as models,
        coalesce(sum(u.amount_value) filter (
            where u.amount_value is not null and lower(coalesce(u.currency, 'usd')) = 'usd'
        ), 0.0)::double as cost_usd
    from costs_layouts as u
    inner join costs_choice as c
        on
            u.day = c.day
            and u.bucket_width_s = c.bucket_width_s
            and u.grouping_name = c.grouping_name
    where not u.empty_bucket
    group by 1, 2
),

usage_days as (select distinct day from billing_usage),

costs_days as (select distinct day from billing_costs),

keys as (
    select day, family from seen
    union
    select day, family from billed_usage
    union
    select day, family from billed_costs
),

joined as (
    select
        k.day,
        k.family as model,
        coalesce(s.models, []) as seen_models,
        list_sort(list_distinct(list_concat(coalesce(u.models, []), coalesce(c.models, []))))
            as billed_models,
        coalesce(s.requests, 0) as requests_seen,
        case when ud.day is not null then coalesce(u.requests, 0) end as requests_billed,
        coalesce(s.input_tokens, 0) as input_tokens_seen,
        case when ud.day is not null then coalesce(u.input_tokens, 0) end
            as input_tokens_billed,
        coalesce(s.cached_tokens, 0) as cached_tokens_seen,
        case when ud.day is not null then coalesce(u.cached_tokens, 0) end
            as cached_tokens_billed,
        coalesce(s.output_tokens, 0) as output_tokens_seen,
        case when ud.day is not null then coalesce(u.output_tokens, 0) end
            as output_tokens_billed,
        coalesce(s.estimated_cost_usd, 0.0) as estimated_cost_usd,
        coalesce(s.unpriced_requests, 0) as unpriced_requests,
        case when cd.day is not null then coalesce(c.cost_usd, 0.0) end as billed_cost_usd,
        ud.day is not null as usage_covered,
        cd.day is not null as costs_covered
    from keys as k
    left join seen as s on k.day = s.day and k.family is not distinct from s.family
    left join billed_usage as u on k.day = u.day and k.family is not distinct from u.family
    left join billed_costs as c on k.day = c.day and k.family is not distinct from c.family
    left join usage_days as ud on k.day = ud.day
    left join costs_days as cd on k.day = cd.day
),

gaps as (
    select
        *,
        requests_billed - requests_seen as request_gap,
        100.0::double * (requests_billed - requests_seen) / nullif(requests_billed, 0)
            as request_gap_pct,
        100.0::double * (input_tokens_billed - input_tokens_seen)
        / nullif(input_tokens_billed, 0) as input_token_gap_pct,
        100.0::double * (output_tokens_billed - output_tokens_seen)
        / nullif(output_tokens_billed, 0) as output_token_gap_pct,
        billed_cost_usd - estimated_cost_usd as cost_gap_usd,
        100.0::double * (billed_cost_usd - estimated_cost_usd) / nullif(billed_cost_usd, 0)
            as cost_gap_pct
    from joined
)

select
    day,
    model,
    seen_models,
    billed_models,
    requests_seen,
    requests_billed,
    request_gap,
    request_gap_pct,
    input_tokens_seen,
    input_tokens_billed,
    input_token_gap_pct,
    cached_tokens_seen,
    cached_tokens_billed,
    output_tokens_seen,
    output_tokens_billed,
    output_token_gap_pct,
    estimated_cost_usd,
    unpriced_requests,
    billed_cost_usd,
    cost_gap_usd,
    cost_gap_pct,
    case
        when not usage_covered and not costs_covered then 'no_billing_data'
        when model is null then 'unattributed'
        when
            requests_seen = 0
            and (coalesce(requests_billed, 0) > 0 or coalesce(billed_cost_usd, 0) > 0)
            then 'missing_in_export'
        when
            requests_seen > 0
            and coalesce(requests_billed, 0) = 0 and coalesce(billed_cost_usd, 0) = 0
            then 'not_billed'
        when
            requests_billed > requests_seen
            or input_tokens_billed > input_tokens_seen
            or output_tokens_billed > output_tokens_seen
            then 'incomplete_export'
        when
            requests_seen > requests_billed
            or input_tokens_seen > input_tokens_billed
            or output_tokens_seen > output_tokens_billed
            then 'exceeds_bill'
        when unpriced_requests > 0 then 'unpriced'
        when abs(cost_gap_pct) > 1.0 then 'mispriced'
        else 'ok'
    end as finding
from gaps
order by day, model nulls last;
