"""Framework-free core of the anti-trafficking assistant.

Nothing in this package imports Rasa: retrieval, Vietnamese text handling,
emergency detection and the handoff store are plain Python, so they can be
tested without a Rasa server and outlive Rasa 3.6.
"""

__version__ = "0.1.0"
