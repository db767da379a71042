drop index filings_filed_on;
alter table companies drop column sector_id;
drop table sectors;
