"""Azure AD as the bot's credentials reach it: MSAL's `acquire_token_for_client`, which blocks
its caller until login.microsoftonline.com answers, then serves the token from its cache until
it nears expiry. Offline, MSAL cannot reach Azure AD, so this stands in for it at the one seam
botbuilder offers (its credentials factory): same blocking call, same caching. The test can hold
the answer, to see who waits for it, and counts the fetches that reached "Azure AD".
"""
from __future__ import annotations

import threading

from botframework.connector.auth import AppCredentials, ServiceClientCredentialsFactory


class FakeAzureAD(ServiceClientCredentialsFactory):
    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.fetches = 0  # token requests that reached Azure AD (not answered from the cache)
        self.waiting = 0  # fetches being held right now
        self.hold_limit = 5.0  # seconds a held fetch waits at most, then answers
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._cached: str | None = None

    def hold(self) -> None:
        """Token fetches block from now on, until release() (or hold_limit seconds)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def expire(self) -> None:
        """The cached token ran out: the next call fetches again."""
        self._cached = None

    def token(self) -> str:
        """What MSAL's acquire_token_for_client returns, blocking as it does."""
        with self._lock:
            if self._cached is not None:
                return self._cached
            self.fetches += 1
            self.waiting += 1
            number = self.fetches
        try:
            self._released.wait(self.hold_limit)
        finally:
            with self._lock:
                self.waiting -= 1
        self._cached = f"aad-token-{number}"
        return self._cached

    # botbuilder's ServiceClientCredentialsFactory

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return False

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> AppCredentials:
        return _Credentials(self, app_id, oauth_scope)


class _Credentials(AppCredentials):
    def __init__(self, azure_ad: FakeAzureAD, app_id: str, oauth_scope: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=oauth_scope)
        self.azure_ad = azure_ad

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self.azure_ad.token()
