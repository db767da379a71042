drop table filings;
drop table companies;
