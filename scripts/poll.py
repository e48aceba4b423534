"""Development polling mode for Telegram and the Zalo Bot Platform (no public HTTPS URL needed).

    .venvs/rasa/bin/python scripts/poll.py telegram     # python-telegram-bot's getUpdates
    .venvs/rasa/bin/python scripts/poll.py zalobot      # the Bot Platform's getUpdates

It removes the platform's webhook (both platforms allow polling or a webhook, not
both), long-polls ``getUpdates`` and forwards each update to the local Rasa
webhook with the secret header, so every message goes through the same connector
code as in production. Settings come from the environment (docs/channels.md);
``HELPLINE_RASA_URL`` (default http://127.0.0.1:5005) is where Rasa listens.
Ctrl-C stops. Re-register the webhook afterwards for production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from helpline.channels.config import TelegramConfig, ZaloBotConfig  # noqa: E402
from helpline.channels.store import ChannelStore  # noqa: E402
from helpline.errors import HelplineError  # noqa: E402
from helpline.settings import Settings  # noqa: E402

logger = logging.getLogger("poll")


async def forward(client: httpx.AsyncClient, url: str, header: str, secret: str, update: dict) -> None:
    body = json.dumps(update, ensure_ascii=False).encode("utf-8")
    resp = await client.post(url, content=body, headers={"Content-Type": "application/json", header: secret})
    logger.info("forwarded an update: webhook answered %d", resp.status_code)


async def poll_telegram(rasa: str) -> None:
    from helpline.channels.telegram import SECRET_HEADER, TelegramSender

    config = TelegramConfig.from_env()
    sender = TelegramSender(config, ChannelStore.from_url(Settings.from_env().handoff_db_url))
    await sender.delete_webhook()
    offset: int | None = None
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            try:
                updates = await sender.get_updates(offset, timeout=30)
            except HelplineError as exc:
                logger.warning("getUpdates failed: %s; retrying", exc)
                await asyncio.sleep(3)
                continue
            for update in updates:
                await forward(client, f"{rasa}/webhooks/telegram/webhook", SECRET_HEADER, config.secret_token, update)
                offset = int(update["update_id"]) + 1


async def poll_zalobot(rasa: str) -> None:
    from helpline.channels.zalobot import SECRET_HEADER, ZaloBotApi

    config = ZaloBotConfig.from_env()
    api = ZaloBotApi(config)
    await api.delete_webhook()
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            try:
                updates = await api.get_updates(timeout=30)
            except HelplineError as exc:  # 408 = nothing new within the timeout
                if "408" not in str(exc):
                    logger.warning("getUpdates failed: %s; retrying", exc)
                    await asyncio.sleep(3)
                continue
            for update in updates:
                await forward(client, f"{rasa}/webhooks/zalobot/webhook", SECRET_HEADER, config.secret_token, update)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("channel", choices=["telegram", "zalobot"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rasa = os.environ.get("HELPLINE_RASA_URL", "http://127.0.0.1:5005").rstrip("/")
    try:
        asyncio.run(poll_telegram(rasa) if args.channel == "telegram" else poll_zalobot(rasa))
    except KeyboardInterrupt:
        return 0
    except HelplineError as exc:
        print(f"{args.channel}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
