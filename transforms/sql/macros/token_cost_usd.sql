-- USD for one usage record. Of the prompt tokens, the cached ones are billed at the cached
-- price where one exists (else the prompt price), the ones written to the prompt cache
-- (cache_write_tokens, apart from the cached ones) at the cache-write price where one
-- exists (else the prompt price: no model before GPT-5.6 bills writes apart), the rest at
-- the prompt price; reasoning tokens are inside completion_tokens. Counts that overlap
-- more than the prompt holds are cut to it (cached first, then writes), so a bad count
-- never bills more tokens than the prompt; a negative write count (the field is read,
-- not checked: docs/fidelity.md) counts as none. NULL without usage or without a price.
create or replace macro token_cost_usd(prompt_tokens, cached_tokens, cache_write_tokens,
                                       completion_tokens, prompt_price, cached_price,
                                       cache_write_price, completion_price) as
    case
        when prompt_tokens is null and completion_tokens is null then null
        when prompt_price is null or completion_price is null then null
        else (
            (coalesce(prompt_tokens, 0)
                - least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))
                - least(greatest(coalesce(cache_write_tokens, 0), 0),
                        coalesce(prompt_tokens, 0)
                            - least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))))
                * prompt_price
            + least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))
                * coalesce(cached_price, prompt_price)
            + least(greatest(coalesce(cache_write_tokens, 0), 0),
                    coalesce(prompt_tokens, 0)
                        - least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0)))
                * coalesce(cache_write_price, prompt_price)
            + coalesce(completion_tokens, 0) * completion_price
        ) / 1e6
    end;
