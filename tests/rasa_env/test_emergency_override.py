"""Danger found by the lexicon survives the FallbackClassifier that runs after the override (config.yml)."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components import EmergencyIntentOverride

CONFIG = Path(__file__).resolve().parents[2] / "config.yml"


def fallback_settings() -> dict[str, float]:
    """The FallbackClassifier's thresholds as config.yml sets them, so the test follows the bot."""
    pipeline = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["pipeline"]
    step = next(s for s in pipeline if s["name"] == "FallbackClassifier")
    return {"threshold": step["threshold"], "ambiguity_threshold": step["ambiguity_threshold"]}


def classify(text: str, ranking: list[tuple[str, float]]) -> str:
    intents = [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: conf} for name, conf in ranking]
    message = Message(data={TEXT: text, INTENT: intents[0], INTENT_RANKING_KEY: intents})
    EmergencyIntentOverride().process([message])
    fallback = FallbackClassifier({**FallbackClassifier.get_default_config(), **fallback_settings()})
    fallback.process([message])
    return str(message.get(INTENT)[INTENT_NAME_KEY])


def test_a_confident_second_guess_does_not_turn_danger_into_a_fallback() -> None:
    # Seen in the fault tests: the classifier was 95 % sure of another intent, the override put emergency at 100 %,
    # and the 0.05 gap made the FallbackClassifier answer nlu_fallback, so no ticket and no 113.
    text = "cuu toi, em o ngõ 5 Kim Mã, sdt 0912 345 678"
    assert classify(text, [("ask_human", 0.952), ("greet", 0.03)]) == "emergency"
    assert classify(text, [("emergency", 0.58), ("ask_human", 0.55)]) == "emergency"


def test_ordinary_questions_are_untouched() -> None:
    assert classify("mua bán người là gì", [("ask_faq", 0.9), ("greet", 0.05)]) == "ask_faq"
    assert classify("abc xyz", [("ask_faq", 0.5), ("greet", 0.45)]) == "nlu_fallback"  # ambiguous
    assert classify("abc xyz", [("ask_faq", 0.3), ("greet", 0.1)]) == "nlu_fallback"  # unsure
