-- How many reports a case gathers: cases and reports per size band.
with banded as (
    select
        case
            when report_count = 1 then 1
            when report_count < 10 then 2
            when report_count < 100 then 3
            when report_count < 1000 then 4
            else 5
        end as band,
        report_count
    from cases
)
select
    case band
        when 1 then '1'
        when 2 then '2-9'
        when 3 then '10-99'
        when 4 then '100-999'
        else '1000+'
    end as reports_per_case,
    count(*) as cases,
    sum(report_count) as reports,
    max(report_count) as largest_case
from banded
group by band
order by band
