-- Reports received and cases opened, per category and UTC day.
with daily_reports as (
    select cast(received_at as date) as day, category, count(*) as reports
    from reports
    group by cast(received_at as date), category
),
daily_cases as (
    select cast(first_seen as date) as day, category, count(*) as new_cases
    from cases
    group by cast(first_seen as date), category
)
select
    coalesce(r.day, c.day) as day,
    coalesce(r.category, c.category) as category,
    coalesce(r.reports, 0) as reports,
    coalesce(c.new_cases, 0) as new_cases
from daily_reports as r
full outer join daily_cases as c on r.day = c.day and r.category = c.category
order by day, category
