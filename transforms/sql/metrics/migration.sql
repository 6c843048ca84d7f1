-- migration: did moving from the Assistants API to the Responses API make runs faster,
-- more reliable, cheaper? The two APIs side by side, overall (`all`), per model and per
-- assistant-or-prompt (`assistant_id`: an assistant's id, or a Responses stored prompt's
-- id; NULL: none). Every measure is over the runs of that api (a response is a run):
--   runs                        runs in the data
--   p50_s, p95_s                wall time of the runs that ended: ended_at - created_at,
--                               queue and (Assistants) waits for tool outputs included,
--                               since a response has no started_at
--   failure_rate                runs that failed / runs in a terminal state (the one
--                               meaning of failure_rate everywhere)
--   failed_or_expired_rate      runs that failed or expired (is_failure) / runs in a
--                               terminal state
--   tokens_per_run              mean total_tokens of the runs that report usage
--   cached_share                cached_tokens / prompt_tokens, summed over those runs
--   cost_per_run_usd            mean cost_usd of the priced runs
--   unpriced_runs               runs with usage but no price (see unpriced_models): the
--                               cost columns leave them out, never price them at zero
-- Models are grouped as priced (model_price_match): the Responses API returns snapshot
-- names (`gpt-4.1-2025-04-14`), an assistant names the family (`gpt-4.1`); both are the
-- `gpt-4.1` row, the price-table model they are priced as. A snapshot the price table
-- lists itself (`gpt-4o-2024-08-06`) keeps its own row; an unknown model stays as sent.
create or replace view migration as
with families as (
    select model, coalesce(price_model(model), model) as family
    from (select distinct model from runs where model is not null)
),

run_rows as (
    select
        runs.api,
        coalesce(families.family, runs.model) as model,
        runs.assistant_id,
        is_run_terminal(runs.status) as terminal,
        runs.status = 'failed' as failed,
        is_failure(runs.status) as failed_or_expired,
        date_diff('microsecond', runs.created_at, runs.ended_at) / 1e6 as wall_s,
        runs.total_tokens,
        runs.prompt_tokens,
        runs.cached_tokens,
        runs.completion_tokens,
        runs.cost_usd
    from runs
    left join families on runs.model = families.model
),

per_api as (
    select
        grouped_dimension(grouping(model, assistant_id), ['model', 'assistant_id'])
            as dimension,
        grouped_value(grouping(model, assistant_id), [model, assistant_id]) as value,
        api,
        count(*) as runs,
        p50(wall_s) as p50_s,
        p95(wall_s) as p95_s,
        count(*) filter (where terminal and failed)
            / nullif(count(*) filter (where terminal), 0) as failure_rate,
        count(*) filter (where terminal and failed_or_expired)
            / nullif(count(*) filter (where terminal), 0) as failed_or_expired_rate,
        avg(total_tokens) as tokens_per_run,
        sum(cached_tokens) filter (where prompt_tokens is not null)
            / nullif(sum(prompt_tokens), 0) as cached_share,
        sum(cost_usd) / nullif(count(cost_usd), 0) as cost_per_run_usd,
        count(*) filter (where cost_usd is null
                         and (prompt_tokens is not null or completion_tokens is not null))
            as unpriced_runs
    from run_rows
    group by grouping sets ((api), (model, api), (assistant_id, api))
),

-- one row per (dimension, value), each measure once per api: `assistants_runs`, ...
side_by_side as (
    pivot per_api
    on api in ('assistants', 'responses')
    using any_value(runs) as runs, any_value(p50_s) as p50_s, any_value(p95_s) as p95_s,
        any_value(failure_rate) as failure_rate,
        any_value(failed_or_expired_rate) as failed_or_expired_rate,
        any_value(tokens_per_run) as tokens_per_run, any_value(cached_share) as cached_share,
        any_value(cost_per_run_usd) as cost_per_run_usd,
        any_value(unpriced_runs) as unpriced_runs
    group by dimension, value
),

final as (
    select
        dimension, value,
        coalesce(assistants_runs, 0) as assistants_runs,
        coalesce(responses_runs, 0) as responses_runs,
        assistants_p50_s, responses_p50_s, assistants_p95_s, responses_p95_s,
        assistants_failure_rate, responses_failure_rate, assistants_failed_or_expired_rate,
        responses_failed_or_expired_rate, assistants_tokens_per_run, responses_tokens_per_run,
        assistants_cached_share, responses_cached_share, assistants_cost_per_run_usd,
        responses_cost_per_run_usd,
        coalesce(assistants_unpriced_runs, 0) as assistants_unpriced_runs,
        coalesce(responses_unpriced_runs, 0) as responses_unpriced_runs
    from side_by_side
)

select * from final order by dimension, value nulls first;
