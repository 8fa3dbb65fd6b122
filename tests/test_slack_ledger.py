"""What the Slack sender's post ledger (adapters/slack/ledger.py) lets a retry skip: looking on
Slack for an earlier attempt's post, when this process made every attempt and knows what each
posted; and what it must not vouch for."""
from __future__ import annotations

from adapters.slack.ledger import CHAIN_WITHIN, NOTHING, UNKNOWN, PostLedger

KEY = ("C0DESK", None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_retry_here_knows_it_posted_nothing_or_what_it_posted():
    ledger = PostLedger(clock=Clock())
    ledger.attempt(1, 1)
    ledger.record([1], KEY, None)  # sent…
    ledger.record([1], KEY, NOTHING)  # …and refused (a 429)
    ledger.attempt(1, 2)
    assert ledger.earlier([1], KEY) == NOTHING, "post again, without looking"
    ledger.record([1], KEY, ("C0DESK", "1.1"))
    ledger.attempt(1, 3)  # its thread reply was refused after the card went out
    assert ledger.earlier([1], KEY) == ("C0DESK", "1.1"), "the card is not posted twice"
    assert ledger.earlier([1], ("C0DESK", "1.1")) == NOTHING, "the thread reply was never made"


def test_a_post_without_an_answer_or_an_attempt_elsewhere_is_looked_up():
    ledger = PostLedger(clock=Clock())
    ledger.attempt(1, 1)
    ledger.record([1], KEY, None)  # a timeout, a 5xx, internal_error: it may be on Slack
    ledger.attempt(1, 2)
    assert ledger.earlier([1], KEY) == UNKNOWN
    ledger.attempt(2, 1)
    ledger.attempt(2, 3)  # attempt 2 was another replica's
    assert ledger.earlier([2], KEY) == UNKNOWN
    assert ledger.earlier([3], KEY) == UNKNOWN, "never attempted here"


def test_a_combined_post_is_not_taken_for_one_of_its_messages_sent_alone():
    """A retry that sends message 1 alone must post its own card: the combined post listing 1, 2
    and 3 is not its card (it would be edited into one and the others' lines lost)."""
    ledger = PostLedger(clock=Clock())
    for n in (1, 2, 3):
        ledger.attempt(n, 1)
    ledger.record([1, 2, 3], KEY, ("C0DESK", "2.2"))
    for n in (1, 2, 3):
        ledger.attempt(n, 2)
    assert ledger.earlier([1], KEY) == NOTHING
    assert ledger.earlier([1, 2], KEY) == NOTHING
    assert ledger.earlier([3, 2, 1], KEY) == ("C0DESK", "2.2"), "the same combination finds it"
    assert ledger.shown([1, 2], KEY) == {1, 2}, "as notices, they are shown already"


def test_an_old_entry_does_not_vouch_for_attempts_made_since():
    """A dead letter sent again restarts the outbox's count: attempts elsewhere may have reached
    the same number, so an entry over CHAIN_WITHIN seconds old makes the next attempt look."""
    clock = Clock()
    ledger = PostLedger(clock=clock)
    ledger.attempt(1, 1)
    ledger.record([1], KEY, NOTHING)
    clock.now += CHAIN_WITHIN + 1
    ledger.attempt(1, 2)
    assert ledger.earlier([1], KEY) == UNKNOWN
