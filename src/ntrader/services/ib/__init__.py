"""Interactive Brokers: connect, fetch history with IB's pacing rules, verify stored bars."""
