-- token_stats(...): the token and cost sums of usage_cost and token_usage_by, as one
-- struct (expand with `.*`). cost_usd sums the priced rows only; unpriced_steps counts
-- the rows with usage but no price, so a partial sum is never mistaken for the whole.
create or replace macro token_stats(prompt_tokens, cached_tokens, completion_tokens,
                                    reasoning_tokens, total_tokens, cost_usd) as {
    'steps': count(*),
    'priced_steps': count(cost_usd),
    'unpriced_steps': count(*) filter (where cost_usd is null
                                       and (prompt_tokens is not null
                                            or completion_tokens is not null)),
    'prompt_tokens': sum(prompt_tokens)::bigint,
    'cached_tokens': sum(cached_tokens)::bigint,
    'completion_tokens': sum(completion_tokens)::bigint,
    'reasoning_tokens': sum(reasoning_tokens)::bigint,
    'total_tokens': sum(total_tokens)::bigint,
    'cost_usd': sum(cost_usd)
};
