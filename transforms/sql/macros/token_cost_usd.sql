-- USD for one usage record. Cached prompt tokens are billed at the cached price where
-- one exists, else at the prompt price; reasoning tokens are inside completion_tokens.
-- NULL without usage or without a price.
create or replace macro token_cost_usd(prompt_tokens, cached_tokens, completion_tokens,
                                       prompt_price, cached_price, completion_price) as
    case
        when prompt_tokens is null and completion_tokens is null then null
        when prompt_price is null or completion_price is null then null
        else (
            (coalesce(prompt_tokens, 0)
                - least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))) * prompt_price
            + least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))
                * coalesce(cached_price, prompt_price)
            + coalesce(completion_tokens, 0) * completion_price
        ) / 1e6
    end;
