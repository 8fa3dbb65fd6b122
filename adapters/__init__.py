"""Adapters: each translates one outside world (terminal, Slack, Teams, LDAP) to the core."""
