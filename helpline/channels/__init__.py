"""Channel protocol code shared by all platforms (no Rasa imports)."""
