"""The HTTP API (`ntrader serve`): the services the CLI calls, over HTTP.

A face beside the CLI: it parses requests, calls services and formats answers; it never
reaches the store directly (an import-linter contract in pyproject.toml).
"""
