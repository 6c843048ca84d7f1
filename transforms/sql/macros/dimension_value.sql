-- dimension_value(grouping_id, ...): the value of a metric view row's dimension (NULL for
-- 'all'), for the same grouping sets as dimension_name; `day` formatted 'YYYY-MM-DD'.
create or replace macro dimension_value(grouping_id, assistant_id, model, day, type, api) as
    grouped_value(grouping_id, [assistant_id, model, day, type, api]);
