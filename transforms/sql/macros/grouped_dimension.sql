-- grouped_dimension(grouping_id, names): the `dimension` of a metric row: the name of the
-- column its grouping set groups by (grouped_position; `names` in grouping()'s order), or
-- 'all' for the set that groups by none:
--   grouped_dimension(grouping(model, api), ['model', 'api'])
create or replace macro grouped_dimension(grouping_id, names) as
    coalesce(names[grouped_position(grouping_id, len(names))], 'all');
