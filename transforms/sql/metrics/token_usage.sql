-- token_usage: the token sums of usage_cost, without the cost columns.
create or replace view token_usage as
select dimension, value, steps, prompt_tokens, completion_tokens, total_tokens
from usage_cost
order by dimension, value;
