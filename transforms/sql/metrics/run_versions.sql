-- run_versions: every run of an assistant with the version of its configuration (README,
-- "Assistant versions"): what assistant_versions and version_comparison are made of.
-- Per assistant (runs with an assistant_id: a run's assistant, a response's stored
-- prompt), runs are ordered by (created_at NULLS LAST, run_id) as `position`. A version
-- is a distinct configuration (the seven columns equal, NULL equal to NULL), numbered
-- 1, 2, ... by its first run: a run back on an older configuration keeps that older
-- number (window partitions compare NULLs as equal, lists element-wise).
--   first_position   position of the first run of the run's configuration
--   version          its configuration's number
create or replace view run_versions as
with ordered as (
    select
        api,
        run_id,
        assistant_id,
        created_at,
        model,
        instructions_hash,
        tools,
        temperature,
        top_p,
        response_format,
        reasoning_effort,
        row_number() over (
            partition by assistant_id order by created_at nulls last, run_id
        ) as position
    from runs
    where assistant_id is not null
),

configured as (
    select
        *,
        min(position) over (
            partition by assistant_id, model, instructions_hash, tools, temperature, top_p,
            response_format, reasoning_effort
        ) as first_position
    from ordered
),

final as (
    select
        *,
        dense_rank() over (partition by assistant_id order by first_position) as version
    from configured
)

select * from final;
