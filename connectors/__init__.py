"""Rasa input channels: thin adapters over the helpline core's channel logic."""

from helpline import logmask

# Rasa imports the connectors while it loads bot/credentials.yml, before it serves anything:
# from here on every log record of the Rasa process is cleaned of secrets and personal data.
logmask.install()
