"""Emergency detection: is someone in danger right now?"""

from __future__ import annotations

from helpline.safety.emergency import Risk, RiskLevel, detect

__all__ = ["Risk", "RiskLevel", "detect"]
