"""Talking to TWS / IB Gateway through ibapi, the client library nautilus' IB adapter drives."""
