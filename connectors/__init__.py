"""Rasa input channels: thin adapters over the helpline core's channel logic."""
