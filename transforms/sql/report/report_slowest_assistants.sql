-- report_slowest_assistants: per api and assistant (a Responses stored prompt's id; NULL:
-- none), the wall time of its runs that ended (ended_at - created_at, as migration),
-- slowest p95 first. Assistants with at least 5 runs that ended come first: a p95 of
-- one or two runs says little.
create or replace view report_slowest_assistants as
with ended as (
    select api, assistant_id, date_diff('microsecond', created_at, ended_at) / 1e6 as wall_s
    from runs
    where ended_at is not null and created_at is not null
),

final as (
    select
        api,
        assistant_id,
        count(*) as runs,
        p50(wall_s) as p50_s,
        p95(wall_s) as p95_s,
        p99(wall_s) as p99_s
    from ended
    group by api, assistant_id
)

select * from final
order by runs >= 5 desc, p95_s desc nulls last, api, assistant_id nulls last;
