drop table filings;
