-- grouped_value(grouping_id, dimension_values): the `value` of a metric row: the value of
-- the column its grouping set groups by (grouped_position), NULL for 'all'. The values
-- share one type (a DATE day is formatted first):
--   grouped_value(grouping(model, api), [model, api])
create or replace macro grouped_value(grouping_id, dimension_values) as
    dimension_values[grouped_position(grouping_id, len(dimension_values))];
