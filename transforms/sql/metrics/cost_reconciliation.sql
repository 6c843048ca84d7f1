-- cost_reconciliation: estimated cost against the bill, one row per UTC day x model family
-- (model_family: the bill names snapshots, runs the names they were given). README,
-- "Reconciling estimated cost with the bill".
-- Seen (the export): a request seen is a `usage` row (an Assistants step or a Responses
--   response with usage): the Usage API counts model requests, and a run calls the model
--   once per step. requests_seen, input_tokens_seen (prompt_tokens), cached_tokens_seen,
--   output_tokens_seen (completion_tokens), estimated_cost_usd (list-price cost_usd of the
--   priced rows), unpriced_requests (usage but no price).
-- Billed (billed_by_family over billing_rows): per source and day one layout is summed
--   (see billed_by_family). billed_cost_usd: USD line items attributed by their parsed
--   model. On a day a table covers (it has any row that day, an empty bucket included)
--   a family without rows is billed 0; on a day it does not cover, its billed columns
--   are NULL.
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

billed_usage as (select * from billed_by_family where source = 'usage'),

billed_costs as (select * from billed_by_family where source = 'costs'),

covered as (
    select
        day,
        bool_or(source = 'usage') as usage_covered,
        bool_or(source = 'costs') as costs_covered
    from billing_rows
    group by day
),

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
        case when v.usage_covered then coalesce(u.requests, 0) end as requests_billed,
        coalesce(s.input_tokens, 0) as input_tokens_seen,
        case when v.usage_covered then coalesce(u.input_tokens, 0) end as input_tokens_billed,
        coalesce(s.cached_tokens, 0) as cached_tokens_seen,
        case when v.usage_covered then coalesce(u.cached_tokens, 0) end as cached_tokens_billed,
        coalesce(s.output_tokens, 0) as output_tokens_seen,
        case when v.usage_covered then coalesce(u.output_tokens, 0) end as output_tokens_billed,
        coalesce(s.estimated_cost_usd, 0.0) as estimated_cost_usd,
        coalesce(s.unpriced_requests, 0) as unpriced_requests,
        case when v.costs_covered then coalesce(c.cost_usd, 0.0) end as billed_cost_usd,
        coalesce(v.usage_covered, false) as usage_covered,
        coalesce(v.costs_covered, false) as costs_covered
    from keys as k
    left join seen as s on k.day = s.day and k.family is not distinct from s.family
    left join billed_usage as u on k.day = u.day and k.family is not distinct from u.family
    left join billed_costs as c on k.day = c.day and k.family is not distinct from c.family
    left join covered as v on k.day = v.day
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
),

final as (
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
)

select * from final order by day, model nulls last;
