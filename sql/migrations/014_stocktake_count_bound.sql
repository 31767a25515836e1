-- 014_stocktake_count_bound.sql — a stocktake count is at most 2^40 units, the bound
-- EnterCounts and ImportCounts check in C, so variances and site totals computed from
-- counts stay far inside bigint. NOT VALID: rows already there are left as they are
-- (none can be larger than a lot's balance); every new or changed row is checked.
ALTER TABLE stocktake_counts
    ADD CONSTRAINT stocktake_counts_counted_bound CHECK (counted <= 1099511627776) NOT VALID;
