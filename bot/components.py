"""Rasa NLU component: a thin adapter over :mod:`helpline.safety`.

It runs after the intent classifier. When the lexicon sees present danger, the
intent becomes ``emergency`` with full confidence, so the emergency rule fires
even when the classifier was unsure or the user typed without diacritics.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from helpline.safety import detect

EMERGENCY_INTENT = "emergency"
RISK_KEY = "helpline_risk"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class EmergencyIntentOverride(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmergencyIntentOverride:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            risk = detect(text, intent=intent)
            message.set(RISK_KEY, {"level": risk.level.value, "reasons": list(risk.reasons)}, add_to_output=True)
            if risk.is_emergency:
                # The lexicon is authoritative. The classifier's other intents stay in the ranking at no more
                # than half confidence: the FallbackClassifier that runs next compares the top two, and a
                # confident second guess (0.95 for ask_human) would otherwise turn danger into nlu_fallback.
                override = {INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                ranking = [override] + [
                    {**r, PREDICTED_CONFIDENCE_KEY: min(float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0), 0.5)}
                    for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT
                ]
                message.set(INTENT, override, add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
