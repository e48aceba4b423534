"""`make bench` building blocks: workload, clients, stacks under test, index benchmark, report."""
