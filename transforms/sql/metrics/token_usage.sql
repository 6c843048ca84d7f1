-- token_usage: the token sums of usage_cost, without the cost columns (and without the
-- groups only built-in tool charges reach: they hold no usage).
create or replace view token_usage as
select dimension, value, steps, prompt_tokens, completion_tokens, total_tokens
from usage_cost
where steps > 0
order by dimension, value;
