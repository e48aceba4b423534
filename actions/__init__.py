"""Rasa SDK actions: thin adapters over the helpline core."""

from actions.emergency import ActionEmergency
from actions.faq import ActionAnswerFaq
from actions.handoff import ActionHandoff
from actions.offer import ActionOfferResult, ActionOfferStart, ActionOfferStopped, ValidateOfferForm
from actions.privacy import ActionDeleteMyData
from actions.report import (
    ActionReportDigression,
    ActionReportIntro,
    ActionReportStop,
    ActionSubmitReport,
    ActionSubmitReportAdd,
    ValidateReportAddForm,
    ValidateReportForm,
)

__all__ = ["ActionAnswerFaq", "ActionDeleteMyData", "ActionEmergency", "ActionHandoff", "ActionOfferResult",
           "ActionOfferStart", "ActionOfferStopped", "ActionReportDigression", "ActionReportIntro", "ActionReportStop",
           "ActionSubmitReport", "ActionSubmitReportAdd", "ValidateOfferForm", "ValidateReportAddForm",
           "ValidateReportForm"]
