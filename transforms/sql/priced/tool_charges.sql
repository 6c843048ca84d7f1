-- tool_charges: what the built-in tools cost apart from model tokens (docs/billing.md,
-- "Built-in tools"), priced from the dated `tool_prices` table (data/tool_prices.csv).
-- One row per billed item:
--   Responses API: per response and tool. web_search: `unit` call, `units` the web search
--     requests the response reports (`tool_usage.web_search.num_requests`, the billed
--     count: one call can search several times; a negative count is not one) else its
--     web_search_call items; priced
--     as `web_search_preview` when the response declared only that version of the tool.
--     file_search, image_generation: a call per item. code_interpreter: one session (a
--     container) per response with code_interpreter_call items (the container id is not
--     kept: responses that share a container are counted once each).
--   Assistants API: code_interpreter: one row per session: a thread's calls in time
--     order, a session opened by a call at least an hour after the previous session
--     opened (OpenAI: "$0.03 per session ... active for one hour", per thread);
--     file_search: per step with such calls, a call per call.
-- Columns: api, tool_type (the `tool_calls.type` billed), tool (the price-table tool),
-- run_id, step_id (Assistants only: the step of the first call), thread_id, assistant_id,
-- model, day (of the response, or of the session's first call), type (the usage type it
-- rides on: `response`, `tool_calls`), calls (tool calls it covers), unit, units,
-- usd_per_unit, cost_usd (units x usd_per_unit; NULL when unpriced), reason (NULL when
-- priced, else why not). Never zero by accident: a tool without a price is NULL.
create or replace view tool_charges as
with response_calls as (
    select
        run_id,
        count(*) filter (where type = 'web_search') as web_search,
        count(*) filter (where type = 'file_search') as file_search,
        count(*) filter (where type = 'code_interpreter') as code_interpreter,
        count(*) filter (where type = 'image_generation') as image_generation,
        any_value(thread_id) as thread_id,
        any_value(assistant_id) as assistant_id,
        any_value(model) as model,
        any_value(day) as day
    from tool_calls
    where api = 'responses' and run_id is not null
        and type in ('web_search', 'file_search', 'code_interpreter',
                     'image_generation')
    group by run_id
),

responses as (
    select
        coalesce(c.run_id, r.run_id) as run_id,
        coalesce(r.thread_id, c.thread_id) as thread_id,
        coalesce(r.assistant_id, c.assistant_id) as assistant_id,
        coalesce(r.model, c.model) as model,
        coalesce(r.day, c.day) as day,
        coalesce(c.web_search, 0) as web_search,
        coalesce(c.file_search, 0) as file_search,
        coalesce(c.code_interpreter, 0) as code_interpreter,
        coalesce(c.image_generation, 0) as image_generation,
        r.web_search_requests,
        coalesce(len(list_filter(r.tools, lambda t: starts_with(t, 'web_search_preview'))) > 0
                 and len(list_filter(r.tools, lambda t: starts_with(t, 'web_search')
                                         and not starts_with(t, 'web_search_preview'))) = 0,
                 false) as preview_search
    from response_calls as c
    full outer join (
        select * from base_runs where api = 'responses'
    ) as r on c.run_id = r.run_id
    where c.run_id is not null or r.web_search_requests > 0
),

response_charges as (
    select
        'responses' as api, item.tool_type, item.tool, run_id, null::varchar as step_id,
        thread_id, assistant_id, model, day, 'response' as type, item.calls, item.unit,
        item.units
    from responses,
        unnest([
            {'tool_type': 'web_search',
             'tool': case when preview_search then 'web_search_preview' else 'web_search' end,
             'calls': web_search, 'unit': 'call',
             'units': case when web_search_requests >= 0 then web_search_requests
                           else web_search end},
            {'tool_type': 'file_search', 'tool': 'file_search', 'calls': file_search,
             'unit': 'call', 'units': file_search},
            {'tool_type': 'code_interpreter', 'tool': 'code_interpreter',
             'calls': code_interpreter, 'unit': 'session',
             'units': least(code_interpreter, 1)},
            {'tool_type': 'image_generation', 'tool': 'image_generation',
             'calls': image_generation, 'unit': 'call', 'units': image_generation}
        ]) as u(item)
    where item.calls > 0 or item.units > 0
),

assistant_ci_calls as (
    select
        coalesce(thread_id, run_id, step_id) as session_key,
        list({'t': epoch(created_at), 'run_id': run_id, 'step_id': step_id,
              'thread_id': thread_id, 'assistant_id': assistant_id, 'model': model,
              'day': day}
             order by created_at nulls last, step_id, call_index) as calls
    from tool_calls
    where api = 'assistants' and type = 'code_interpreter'
    group by all
),

assistant_sessions as (
    select
        unnest(list_reduce(
            calls[2:],
            lambda acc, c: case
                when c.t >= acc[-1].opened + 3600
                    then list_append(acc, {'opened': c.t, 'first': c, 'calls': 1})
                else list_append(list_slice(acc, 1, len(acc) - 1),
                                 {'opened': acc[-1].opened, 'first': acc[-1].first,
                                  'calls': acc[-1].calls + 1})
            end,
            [{'opened': calls[1].t, 'first': calls[1], 'calls': 1}])) as session
    from assistant_ci_calls
),

assistant_ci as (
    select
        'assistants' as api, 'code_interpreter' as tool_type, 'code_interpreter' as tool,
        session.first.run_id, session.first.step_id, session.first.thread_id,
        session.first.assistant_id, session.first.model, session.first.day,
        'tool_calls' as type, session.calls, 'session' as unit, 1 as units
    from assistant_sessions
),

assistant_fs as (
    select
        'assistants' as api, 'file_search' as tool_type, 'file_search' as tool,
        any_value(run_id) as run_id, step_id, any_value(thread_id) as thread_id,
        any_value(assistant_id) as assistant_id, any_value(model) as model,
        any_value(day) as day, 'tool_calls' as type, count(*) as calls, 'call' as unit,
        count(*) as units
    from tool_calls
    where api = 'assistants' and type = 'file_search'
    group by step_id
),

all_charges as (
    from response_charges
    union all by name
    from assistant_ci
    union all by name
    from assistant_fs
),

charges as (  -- a call without a time or model takes its run's
    select
        c.* replace (coalesce(c.day, r.day) as day, coalesce(c.model, r.model) as model)
    from all_charges as c
    left join base_runs as r on c.run_id = r.run_id and c.api = r.api
),

price_models as (  -- the most specific price-table model of each (api, tool, model)
    select
        keys.api, keys.tool, keys.model,
        (select max_by(p.model, length(p.model))
         from tool_prices as p
         where p.api = keys.api and p.tool = keys.tool
             and (p.model = '' or keys.model = p.model
                  or starts_with(keys.model, p.model || '-'))) as price_model
    from (select distinct api, tool, model from charges) as keys
),

matched as (
    select charges.*, price_models.price_model
    from charges
    left join price_models
        on charges.api = price_models.api and charges.tool = price_models.tool
        and charges.model is not distinct from price_models.model
),

priced as (
    select
        matched.* exclude (price_model),
        p.usd_per_unit,
        p.unit as price_unit,
        matched.price_model is not null as has_price_row
    from matched
    asof left join tool_prices as p
        on matched.api = p.api and matched.tool = p.tool and matched.price_model = p.model
        and matched.day >= p.effective_from
),

final as (
    select
        api, tool_type, tool, run_id, step_id, thread_id, assistant_id, model, day, type,
        calls::bigint as calls, unit, units::bigint as units,
        case when price_unit = unit then usd_per_unit end as usd_per_unit,
        case when price_unit = unit then units * usd_per_unit end as cost_usd,
        case
            when not has_price_row then 'tool not in the tool price table'
            when day is null then 'no day'
            when usd_per_unit is null then 'no price on or before its day'
            when price_unit <> unit then 'priced per ' || price_unit || ', billed per ' || unit
        end as reason
    from priced
)

select * from final;
