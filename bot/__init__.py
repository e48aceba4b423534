"""Rasa project files, plus the Rasa-side NLU component in :mod:`bot.components`."""
