-- assistant_versions: one row per version of an assistant's configuration (README,
-- "Assistant versions"), a view over runs (through run_versions) so it never disagrees
-- with it. A version is a distinct configuration, numbered by its first run; a rollback
-- or an A/B split returns to an older version rather than making a new number, so
-- first_seen/last_seen of two versions may overlap.
--   api, assistant_id, version
--   first_run_id             the version's first run (created_at NULLS LAST, run_id)
--   first_seen, last_seen    min and max created_at of its runs
--   runs                     its runs
--   model ... reasoning_effort   the configuration
--   previous_version         the version of the run just before its first run: the
--                            configuration it replaced; NULL for version 1
--   changed                  the fields that differ from previous_version's, in the
--                            column order above (NULL equals NULL); NULL for version 1
create or replace view assistant_versions as
with versions as (
    select
        assistant_id,
        version,
        min(first_position) as first_position,
        min(created_at) as first_seen,
        max(created_at) as last_seen,
        count(*) as runs
    from run_versions
    group by assistant_id, version
),

heads as (
    select
        versions.*,
        head.api,
        head.run_id as first_run_id,
        head.model,
        head.instructions_hash,
        head.tools,
        head.temperature,
        head.top_p,
        head.response_format,
        head.reasoning_effort,
        before.version as previous_version
    from versions
    inner join run_versions as head
        on
            versions.assistant_id = head.assistant_id
            and versions.first_position = head.position
    left join run_versions as before
        on
            versions.assistant_id = before.assistant_id
            and versions.first_position - 1 = before.position
),

final as (
    select
        v.api,
        v.assistant_id,
        v.version,
        v.first_run_id,
        v.first_seen,
        v.last_seen,
        v.runs,
        v.model,
        v.instructions_hash,
        v.tools,
        v.temperature,
        v.top_p,
        v.response_format,
        v.reasoning_effort,
        v.previous_version,
        case when v.previous_version is not null then list_filter([
            case when v.model is distinct from p.model then 'model' end,
            case when v.instructions_hash is distinct from p.instructions_hash
                then 'instructions_hash' end,
            case when v.tools is distinct from p.tools then 'tools' end,
            case when v.temperature is distinct from p.temperature then 'temperature' end,
            case when v.top_p is distinct from p.top_p then 'top_p' end,
            case when v.response_format is distinct from p.response_format
                then 'response_format' end,
            case when v.reasoning_effort is distinct from p.reasoning_effort
                then 'reasoning_effort' end
        ], lambda x: x is not null) end as changed
    from heads as v
    left join heads as p
        on v.assistant_id = p.assistant_id and v.previous_version = p.version
)

select * from final order by assistant_id, version;
