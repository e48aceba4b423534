"""Local fake platform APIs (Zalo OA, Zalo Bot Platform, Messenger, Telegram) for tests and `make simulate`."""
