"""Rasa NLU component: a report reference code (``BT-XXXX-XXXX``) makes the intent ``report_add``.

Runs after :class:`bot.components.EmergencyIntentOverride` (danger still wins) and before the
FallbackClassifier. The code and the rest of the message become the entities ``report_code``
and ``report_note``, which fill ``report_add_form``. The matching itself is :mod:`helpline.refcode`.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from helpline.refcode import addition_text, find_code, looks_like_code

REPORT_ADD_INTENT = "report_add"
EXTRACTOR = "ReportCodeExtractor"
# A code with letters outside the alphabet: still a code for the conversation (it gets the neutral reply).
UNKNOWN_CODE = "BT-?"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class ReportCodeExtractor(GraphComponent):
    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> ReportCodeExtractor:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/") or not looks_like_code(text):
                continue
            if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == "emergency":
                continue
            found = find_code(text)
            code, rest = found if found else (UNKNOWN_CODE, "")
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") not in ("report_code", "report_note")]
            entities.append({"entity": "report_code", "value": code, "extractor": EXTRACTOR})
            if found and (note := addition_text(rest)):
                entities.append({"entity": "report_note", "value": note, "extractor": EXTRACTOR})
            override = {INTENT_NAME_KEY: REPORT_ADD_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [override] + [
                {**r, PREDICTED_CONFIDENCE_KEY: min(float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0), 0.5)}
                for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != REPORT_ADD_INTENT
            ]
            message.set(INTENT, override, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
