-- token_usage: token sums from steps that report usage, overall and by dimension.
create or replace view token_usage as
with reported as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type,
           prompt_tokens, completion_tokens, total_tokens
    from usage
),

grouped as (
    select
        grouping(assistant_id, model, day, type) as grouping_id,
        assistant_id, model, day, type,
        count(*) as steps,
        sum(prompt_tokens)::bigint as prompt_tokens,
        sum(completion_tokens)::bigint as completion_tokens,
        sum(total_tokens)::bigint as total_tokens
    from reported
    group by grouping sets ((), (assistant_id), (model), (day), (type))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type) as value,
        steps, prompt_tokens, completion_tokens, total_tokens
    from grouped
)

select * from final order by dimension, value;
