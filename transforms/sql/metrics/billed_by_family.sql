-- billed_by_family: what the bill says per source ('usage', 'costs') x UTC day x model
-- family (model_family of the billed model). docs/billing.md, "Reconciling estimated cost with
-- the bill".
-- Per source and day one layout (bucket width x grouping dimensions, billing_rows) is
-- summed, so a day exported both by model and by model x project counts once: grouped
-- by model (costs: line_item) first, then the widest bucket, then the fewest
-- dimensions, then the grouping's name. Empty buckets take part in the choice and add
-- nothing.
--   models           the billed models of the family (distinct, unordered)
--   requests, input_tokens, cached_tokens, output_tokens   usage sums (NULL for costs)
--   cost_usd         costs: USD line items' sum (0.0 when none)
create or replace view billed_by_family as
with layouts as (
    select distinct source, day, bucket_width_s, grouping_name, dimensions, by_model
    from billing_rows
),

chosen as (
    select source, day, bucket_width_s, grouping_name
    from layouts
    qualify row_number() over (
        partition by source, day
        order by by_model desc, bucket_width_s desc, dimensions asc, grouping_name asc
    ) = 1
),

final as (
    select
        b.source,
        b.day,
        model_family(b.model) as family,
        list(distinct b.model) filter (where b.model is not null) as models,
        try_cast(sum(b.requests) as bigint) as requests,
        try_cast(sum(b.input_tokens) as bigint) as input_tokens,
        try_cast(sum(b.cached_tokens) as bigint) as cached_tokens,
        try_cast(sum(b.output_tokens) as bigint) as output_tokens,
        coalesce(sum(b.cost_usd), 0.0)::double as cost_usd
    from billing_rows as b
    inner join chosen as c
        on
            b.source = c.source
            and b.day = c.day
            and b.bucket_width_s = c.bucket_width_s
            and b.grouping_name = c.grouping_name
    where not b.empty_bucket
    group by b.source, b.day, family
)

select * from final;
