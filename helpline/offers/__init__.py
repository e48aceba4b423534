"""Job-offer and marriage-offer check: warning signs, missing facts, a band (never "safe"), the reply text."""

from helpline.offers.analysis import BAND_TEXT, FACTS, SKIP, Analysis, Band, Found, analyse, looks_like_offer
from helpline.offers.signs import BY_ID, SIGN_IDS, SIGNS, Sign

__all__ = ["BAND_TEXT", "BY_ID", "FACTS", "SIGNS", "SIGN_IDS", "SKIP", "Analysis", "Band", "Found", "Sign",
           "analyse", "looks_like_offer"]
