"""Test harness for gridstock: a private PostgreSQL cluster, gridstockd processes, gRPC calls."""
