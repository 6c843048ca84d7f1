-- threads: one row per thread (a Responses conversation likewise): how long it lasted,
-- how many turns, how the prompt grew with every turn (context bloat), what it cost.
-- A turn is a run of the thread in a terminal state (it answered, or ended trying), in
-- order of created_at, then run_id; runs still queued / in progress / waiting on tool
-- outputs in the data are counted in `runs` only.
--   api                     the api of its first run (a Responses thread is a conversation,
--                           or the first response of a previous_response_id chain)
--   assistant_id            the assistant (stored prompt) of the thread's first run;
--                           `assistants` counts the distinct ones that ran on it
--   runs, turns             all runs; runs in a terminal state
--   failed_turns            turns that ended failed or expired (is_failure)
--   first_at, last_at       first run created; last run ended (its created_at if not ended)
--   duration_s              last_at - first_at
--   prompt_tokens, completion_tokens, total_tokens   sums over the thread's runs
--   prompt_tokens_by_turn   each turn's prompt_tokens (the run's usage), in turn order;
--                           NULL for a turn without usage
--   first_turn_prompt_tokens, last_turn_prompt_tokens, max_turn_prompt_tokens   over the
--                           turns with usage
--   prompt_growth_per_turn  least-squares slope of prompt_tokens over the turn number
--                           (1, 2, ...), tokens per turn, over the turns with usage: how
--                           fast the context grows; NULL with fewer than two
--   prompt_growth_ratio     last / first turn's prompt_tokens (NULL with fewer than two
--                           turns with usage, or a first of 0)
--   cost_usd                sum of the runs' cost_usd (priced runs only)
--   turn_cost_p95_usd       95th percentile (continuous) of the cost of its priced turns
--   unpriced_turns          turns with usage but no price (see unpriced_models)
create or replace view threads as
with turns as (
    select
        thread_id,
        run_id,
        prompt_tokens,
        cost_usd,
        row_number() over (partition by thread_id order by created_at, run_id) as turn
    from runs
    where thread_id is not null and is_run_terminal(status)
),

turn_totals as (
    select
        thread_id,
        count(*) as turns,
        list(prompt_tokens order by turn) as prompt_tokens_by_turn,
        arg_min(prompt_tokens, turn) filter (where prompt_tokens is not null)
            as first_turn_prompt_tokens,
        arg_max(prompt_tokens, turn) filter (where prompt_tokens is not null)
            as last_turn_prompt_tokens,
        max(prompt_tokens) as max_turn_prompt_tokens,
        count(prompt_tokens) as turns_with_usage,
        regr_slope(prompt_tokens, turn) as prompt_growth_per_turn,
        p95(cost_usd) as turn_cost_p95_usd,
        count(*) filter (where prompt_tokens is not null and cost_usd is null)
            as unpriced_turns
    from turns
    group by thread_id
),

run_totals as (
    select
        thread_id,
        arg_min(api, (created_at, run_id)) as api,
        arg_min(assistant_id, (created_at, run_id)) as assistant_id,
        count(distinct assistant_id) as assistants,
        count(*) as runs,
        count(*) filter (where is_run_terminal(status) and is_failure(status))
            as failed_turns,
        min(created_at) as first_at,
        max(coalesce(ended_at, created_at)) as last_at,
        try_cast(sum(prompt_tokens) as bigint) as prompt_tokens,
        try_cast(sum(completion_tokens) as bigint) as completion_tokens,
        try_cast(sum(total_tokens) as bigint) as total_tokens,
        sum(cost_usd) as cost_usd
    from runs
    where thread_id is not null
    group by thread_id
),

final as (
    select
        r.thread_id,
        r.api,
        r.assistant_id,
        r.assistants,
        r.runs,
        coalesce(t.turns, 0)::bigint as turns,
        r.failed_turns,
        r.first_at,
        r.last_at,
        epoch(r.last_at) - epoch(r.first_at) as duration_s,
        r.prompt_tokens,
        r.completion_tokens,
        r.total_tokens,
        t.prompt_tokens_by_turn,
        t.first_turn_prompt_tokens,
        t.last_turn_prompt_tokens,
        t.max_turn_prompt_tokens,
        case when t.turns_with_usage >= 2 then t.prompt_growth_per_turn end
            as prompt_growth_per_turn,
        case when t.turns_with_usage >= 2 and t.first_turn_prompt_tokens > 0
             then t.last_turn_prompt_tokens / t.first_turn_prompt_tokens end
            as prompt_growth_ratio,
        r.cost_usd,
        t.turn_cost_p95_usd,
        coalesce(t.unpriced_turns, 0)::bigint as unpriced_turns
    from run_totals as r
    left join turn_totals as t on r.thread_id = t.thread_id
)

select * from final order by first_at, thread_id;
