"""Tiered catalog/orders API handlers (seed 002): tenant-partitioned single table, JWT tenancy."""
