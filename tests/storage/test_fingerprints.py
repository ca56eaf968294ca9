"""Canonical URLs and text hashes: the identity an article is stored under."""

import pytest

from storage import alert_id, canonical_url, normalise_text, text_hash


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://Example.COM/a/b", "https://example.com/a/b"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://p.dw.com/p/4asKO", "https://p.dw.com/p/4asKO"),
    ],
)
def test_canonical_url_folds_case_tracking_and_fragments(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_keeps_parameters_that_select_the_article() -> None:
    assert canonical_url("https://example.com/story.php?sid=1") != canonical_url(
        "https://example.com/story.php?sid=2"
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Missile launchers, again.", "missile   LAUNCHERS again"),
        ("Line one\n\nLine two", "line one line two"),
        ("“Quoted” — text", '"quoted" - text'),
    ],
)
def test_text_hash_ignores_case_whitespace_and_punctuation(left: str, right: str) -> None:
    assert normalise_text(left) == normalise_text(right)
    assert text_hash(left) == text_hash(right)


def test_text_hash_differs_when_a_word_differs() -> None:
    assert text_hash("missile launchers were shown") != text_hash("missile launchers were hidden")


def test_alert_id_is_stable_for_the_pair_and_differs_across_rules() -> None:
    first = alert_id(rule="r", canonical="https://example.com/a")
    assert first == alert_id(rule="r", canonical="https://example.com/a")
    assert first != alert_id(rule="other", canonical="https://example.com/a")
    assert len(first) == 32
