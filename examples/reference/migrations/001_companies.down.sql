drop table companies;
