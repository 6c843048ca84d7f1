-- report_usage_cost: usage_cost overall, per assistant and per model (token cost, built-in
-- tool charges and their total).
create or replace view report_usage_cost as
select dimension, value, steps, unpriced_steps, prompt_tokens, cached_tokens,
       completion_tokens, cost_usd, tool_cost_usd, unpriced_tool_charges, total_cost_usd
from usage_cost
where dimension in ('all', 'assistant_id', 'model');
