"""Fake services the tests talk to over real sockets."""
