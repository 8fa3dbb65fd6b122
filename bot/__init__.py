"""The help desk core: tickets, commands and rules, in plain values.

Nothing here imports a chat SDK, a directory client or a SQL driver; adapters
translate platform requests into commands and storage implements the ports.
"""
