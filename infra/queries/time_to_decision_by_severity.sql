-- Time from a case's first report to its first decision, by severity, against the SLA (hours).
-- The SLA of a case is due_at - first_seen (what the analysts' queue orders by).
with first_decisions as (
    select case_id, min(decided_at) as decided_at
    from decisions
    group by case_id
),
timed as (
    select
        c.severity,
        cast(date_diff('millisecond', c.first_seen, d.decided_at) as double) / 3600000 as hours,
        cast(date_diff('millisecond', c.first_seen, c.due_at) as double) / 3600000 as sla_hours
    from cases as c
    join first_decisions as d on d.case_id = c.case_id
)
select
    severity,
    count(*) as decided_cases,
    round(max(sla_hours), 2) as sla_hours,
    round(approx_percentile(hours, 0.5), 2) as median_hours,
    round(approx_percentile(hours, 0.9), 2) as p90_hours,
    round(cast(sum(case when hours <= sla_hours then 1 else 0 end) as double) / count(*), 4) as share_within_sla
from timed
group by severity
order by severity
