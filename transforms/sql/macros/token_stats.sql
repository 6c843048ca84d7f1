-- token_stats(...): the token and cost sums of usage_cost and token_usage_by, as one
-- struct (expand with `.*`). cost_usd sums the priced rows only; unpriced_steps counts
-- the rows with usage but no price, so a partial sum is never mistaken for the whole.
-- Token sums: each kept count is at most 2^53 (the decoders reject more), and DuckDB
-- sums BIGINT as HUGEINT; try_cast makes a sum past 2^63-1 (over 1024 rows at the
-- maximum, no real export) NULL, never an error that breaks every report.
create or replace macro token_stats(prompt_tokens, cached_tokens, completion_tokens,
                                    reasoning_tokens, total_tokens, cost_usd) as {
    'steps': count(*),
    'priced_steps': count(cost_usd),
    'unpriced_steps': count(*) filter (where cost_usd is null
                                       and (prompt_tokens is not null
                                            or completion_tokens is not null)),
    'prompt_tokens': try_cast(sum(prompt_tokens) as bigint),
    'cached_tokens': try_cast(sum(cached_tokens) as bigint),
    'completion_tokens': try_cast(sum(completion_tokens) as bigint),
    'reasoning_tokens': try_cast(sum(reasoning_tokens) as bigint),
    'total_tokens': try_cast(sum(total_tokens) as bigint),
    'cost_usd': sum(cost_usd)
};
